using System.Runtime.InteropServices;
using ActorVault.Memory.Interop;

namespace ActorVault.Memory;

/// <summary>What <see cref="SecretFiles.Inspect"/> saw at a path (without following a final symlink).</summary>
/// <param name="Exists">Something is at the path.</param>
/// <param name="IsDirectory">It is a directory.</param>
/// <param name="IsRegularFile">It is a regular file.</param>
/// <param name="IsSymbolicLink">It is a symbolic link (never followed).</param>
/// <param name="OwnerId">Its owner's user id.</param>
/// <param name="Permissions">Its permission bits (<c>0777</c> mask, plus sticky <c>01000</c>).</param>
public readonly record struct FileOwnership(bool Exists, bool IsDirectory, bool IsRegularFile, bool IsSymbolicLink, uint OwnerId, int Permissions)
{
    /// <summary>Group or others may write (or, for a file, read) it.</summary>
    public bool WritableByOthers => (Permissions & 0b000_010_010) != 0;

    /// <summary>Anyone but the owner has any access.</summary>
    public bool AccessibleByOthers => (Permissions & 0b000_111_111) != 0;
}

/// <summary>
/// Files that carry key material: written from secret memory with write(2) into a new file made
/// <c>0600</c> with <c>O_EXCL|O_NOFOLLOW</c> (no symlink games, no window with wider permissions),
/// overwritten with zeros before they are removed, and inspected without following symlinks.
/// </summary>
public static unsafe class SecretFiles
{
    /// <summary>The effective user id of this process.</summary>
    public static uint CurrentUserId => Libc.geteuid();

    /// <summary>Type, owner and permissions of <paramref name="path"/>; <c>Exists</c> is false when nothing is there.</summary>
    public static FileOwnership Inspect(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        int fd = Libc.open(path, Libc.O_PATH | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == Libc.ENOENT)
            {
                return default;
            }

            throw new IOException($"Cannot inspect '{path}': {Libc.Describe(errno)}.");
        }

        try
        {
            if (!Libc.TryStat(fd, out int mode, out uint uid, out _, out int errno))
            {
                throw new IOException($"Cannot inspect '{path}': {Libc.Describe(errno)}.");
            }

            return Ownership(mode, uid);
        }
        finally
        {
            _ = Libc.close(fd);
        }
    }

    /// <summary>
    /// Reads a regular file into secret memory through one descriptor, opened without following a
    /// symlink and without blocking (a FIFO swapped in cannot hang the reader), and reports what that
    /// descriptor is — so the checks and the read concern the same file. Throws
    /// <see cref="FileNotFoundException"/> when nothing is there, <see cref="IOException"/> for a
    /// symlink, a non-regular file or a read error, <see cref="Readers.SecretInputException"/> when
    /// the content is empty or longer than <paramref name="maxBytes"/>.
    /// </summary>
    public static SecretBuffer ReadRegularFile(string path, int maxBytes, out FileOwnership ownership)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        int fd = Libc.open(path, Libc.O_RDONLY | Libc.O_NOFOLLOW | Libc.O_NONBLOCK | Libc.O_NOCTTY | Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw errno switch
            {
                Libc.ENOENT => new FileNotFoundException($"'{path}' does not exist.", path),
                Libc.ELOOP => new IOException($"'{path}' is a symbolic link; refusing to follow it."),
                _ => new IOException($"Cannot open '{path}': {Libc.Describe(errno)}."),
            };
        }

        try
        {
            if (!Libc.TryStat(fd, out int mode, out uint uid, out _, out int errno))
            {
                throw new IOException($"Cannot inspect '{path}': {Libc.Describe(errno)}.");
            }

            ownership = Ownership(mode, uid);
            if (!ownership.IsRegularFile)
            {
                throw new IOException($"'{path}' is not a regular file.");
            }

            return Readers.SecretReaders.ReadFromFileDescriptor(fd, new Readers.SecretReadOptions { MaxBytes = maxBytes });
        }
        finally
        {
            _ = Libc.close(fd);
        }
    }

    private static FileOwnership Ownership(int mode, uint uid)
    {
        int type = mode & Libc.S_IFMT;
        return new FileOwnership(true, type == Libc.S_IFDIR, type == Libc.S_IFREG, type == Libc.S_IFLNK, uid, mode & 0x3FF);
    }

    /// <summary>
    /// Creates <paramref name="path"/> (which must not exist) with mode <c>0600</c> and writes
    /// <paramref name="content"/> to it from secret memory; the data is synced before this returns.
    /// </summary>
    public static void WriteNew(string path, SecretBuffer content)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(content);
        int fd = Libc.open(path, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0x180);
        if (fd < 0)
        {
            throw new IOException($"Cannot create '{path}': {Libc.Describe(Marshal.GetLastPInvokeError())}.");
        }

        bool written = false;
        try
        {
            // The umask may only narrow 0600; set it exactly anyway.
            if (Libc.fchmod(fd, 0x180) != 0)
            {
                throw new IOException($"Cannot set mode 0600 on '{path}': {Libc.Describe(Marshal.GetLastPInvokeError())}.");
            }

            Readers.SecretDescriptors.WriteAll(fd, content);
            if (Libc.fsync(fd) != 0)
            {
                throw new IOException($"Cannot sync '{path}': {Libc.Describe(Marshal.GetLastPInvokeError())}.");
            }

            written = true;
        }
        finally
        {
            _ = Libc.close(fd);
            if (!written)
            {
                _ = Libc.unlink(path);
            }
        }
    }

    /// <summary>
    /// Overwrites the regular file at <paramref name="path"/> with zeros (its current length), syncs,
    /// and removes it. A missing file is fine; a symlink is removed without touching its target.
    /// Returns false when nothing was there.
    /// </summary>
    public static bool Shred(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        int fd = Libc.open(path, Libc.O_WRONLY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC | Libc.O_NONBLOCK, 0);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == Libc.ENOENT)
            {
                return false;
            }

            return Libc.unlink(path) == 0;
        }

        try
        {
            if (Libc.TryStat(fd, out int mode, out _, out long size, out _) && (mode & Libc.S_IFMT) == Libc.S_IFREG && size is > 0 and <= 1 << 20)
            {
                byte* zeros = stackalloc byte[4096];
                new Span<byte>(zeros, 4096).Clear();
                long done = 0;
                while (done < size)
                {
                    nint n = Libc.write(fd, zeros, (nuint)Math.Min(4096, size - done));
                    if (n <= 0)
                    {
                        break;
                    }

                    done += n;
                }

                _ = Libc.fsync(fd);
            }
        }
        finally
        {
            _ = Libc.close(fd);
        }

        return Libc.unlink(path) == 0;
    }
}
