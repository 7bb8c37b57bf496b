using System.Runtime.InteropServices;
using System.Security.Cryptography;
using ActorVault.Memory.Interop;

namespace ActorVault.Memory.Readers;

/// <summary>
/// Read a secret straight into a <see cref="SecretBuffer"/> with read(2): no string, no managed array,
/// no <c>Console</c> in between. One trailing newline is dropped. Every failure zeroes what was read
/// and throws <see cref="SecretInputException"/>.
/// </summary>
public static unsafe class SecretReaders
{
    /// <summary>Reads from the controlling terminal (<c>/dev/tty</c>) with echo off. See <see cref="TerminalSecretReader"/>.</summary>
    public static SecretBuffer ReadFromTerminal(SecretReadOptions? options = null, CancellationToken cancellationToken = default) =>
        TerminalSecretReader.Read(options ?? new SecretReadOptions(), cancellationToken);

    /// <summary>True when standard input is a terminal.</summary>
    public static bool StandardInputIsTerminal => Libc.isatty(0) == 1;

    /// <summary>True when descriptor <paramref name="fd"/> is a terminal (for example 2, to show progress).</summary>
    public static bool IsTerminal(int fd) => Libc.isatty(fd) == 1;

    /// <summary>
    /// Reads from the terminal (echo off) when standard input is a terminal, otherwise from standard
    /// input (a pipe or a file): what a command-line tool asking for a password should do.
    /// </summary>
    public static SecretBuffer ReadFromTerminalOrStandardInput(SecretReadOptions? options = null, CancellationToken cancellationToken = default) =>
        StandardInputIsTerminal ? ReadFromTerminal(options, cancellationToken) : ReadFromStandardInput(options, cancellationToken);

    /// <summary>Reads from an open file descriptor, to end of input (or the first newline).</summary>
    public static SecretBuffer ReadFromFileDescriptor(int fd, SecretReadOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new SecretReadOptions();
        options.Validate();
        int type = Libc.FileTypeOf(fd, out int errno);
        if (type < 0)
        {
            throw errno == Libc.EBADF
                ? new SecretInputException(SecretInputError.DescriptorClosed, $"File descriptor {fd} is not open; nothing to read the secret from.")
                : new SecretInputException(SecretInputError.IoError, $"Cannot inspect file descriptor {fd}: {Libc.Describe(errno)}.");
        }

        return ReadDescriptor(fd, $"file descriptor {fd}", options, cancellationToken);
    }

    /// <summary>
    /// As <see cref="ReadFromFileDescriptor"/>, for a descriptor number that a user named (a command
    /// line's <c>--password-fd N</c>): it must have been inherited from the parent process. One this
    /// process opened itself — the .NET runtime reuses free numbers for its own pipes and
    /// <c>/dev/urandom</c> — is refused with <see cref="SecretInputError.WrongSource"/>.
    /// </summary>
    public static SecretBuffer ReadFromInheritedDescriptor(int fd, SecretReadOptions? options = null, CancellationToken cancellationToken = default)
    {
        if (Libc.FileTypeOf(fd, out _) >= 0 && OpenedByThisProcess(fd))
        {
            throw new SecretInputException(SecretInputError.WrongSource, $"File descriptor {fd} was not handed to this process: it was opened here (close-on-exec is set, as on every descriptor the .NET runtime opens), so it is not the one you meant. Pass a descriptor the parent left open across exec.");
        }

        return ReadFromFileDescriptor(fd, options, cancellationToken);
    }

    /// <summary>
    /// True when <paramref name="fd"/> has close-on-exec set: then this process opened it (the .NET
    /// runtime opens everything with <c>O_CLOEXEC</c>), and it was not inherited from the parent —
    /// a descriptor number that the user named may have been reused by the runtime for its own pipe
    /// or <c>/dev/urandom</c>.
    /// </summary>
    internal static bool OpenedByThisProcess(int fd)
    {
        int flags = Libc.fcntl(fd, Libc.F_GETFD, 0);
        return flags >= 0 && (flags & Libc.FD_CLOEXEC) != 0;
    }

    /// <summary>Reads standard input when it is a pipe or a file (not a terminal: use <see cref="ReadFromTerminal"/>).</summary>
    public static SecretBuffer ReadFromStandardInput(SecretReadOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new SecretReadOptions();
        options.Validate();
        int type = Libc.FileTypeOf(0, out int errno);
        if (type < 0)
        {
            throw errno == Libc.EBADF
                ? new SecretInputException(SecretInputError.DescriptorClosed, "Standard input is closed; nothing to read the secret from.")
                : new SecretInputException(SecretInputError.IoError, $"Cannot inspect standard input: {Libc.Describe(errno)}.");
        }

        if (OpenedByThisProcess(0))
        {
            // Started with stdin closed: the runtime took descriptor 0 for a pipe of its own.
            throw new SecretInputException(SecretInputError.DescriptorClosed, "Standard input is closed (descriptor 0 is one this process opened itself); nothing to read the secret from.");
        }

        if (Libc.isatty(0) == 1)
        {
            throw new SecretInputException(SecretInputError.WrongSource, "Standard input is a terminal; read it with the terminal reader (echo off) instead.");
        }

        return ReadDescriptor(0, "standard input", options, cancellationToken);
    }

    /// <summary>Reads a whole file (one trailing newline dropped).</summary>
    public static SecretBuffer ReadFromFile(string path, SecretReadOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= new SecretReadOptions();
        options.Validate();
        // Never follow a final symlink, never block on a FIFO (O_NONBLOCK; only regular files are read).
        int fd = Libc.open(path, Libc.O_RDONLY | Libc.O_CLOEXEC | Libc.O_NOCTTY | Libc.O_NOFOLLOW | Libc.O_NONBLOCK, 0);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw errno switch
            {
                Libc.ENOENT => new SecretInputException(SecretInputError.NotFound, $"Secret file '{path}' does not exist."),
                Libc.ELOOP => new SecretInputException(SecretInputError.WrongSource, $"Secret file '{path}' is a symbolic link; it is not followed (name the file itself)."),
                Libc.EACCES or Libc.EPERM => new SecretInputException(SecretInputError.AccessDenied, $"Secret file '{path}' cannot be opened: {Libc.Describe(errno)}."),
                _ => new SecretInputException(SecretInputError.IoError, $"Secret file '{path}' cannot be opened: {Libc.Describe(errno)}."),
            };
        }

        try
        {
            int type = Libc.FileTypeOf(fd, out int statErrno);
            if (type != Libc.S_IFREG)
            {
                throw type < 0
                    ? new SecretInputException(SecretInputError.IoError, $"Secret file '{path}' cannot be inspected: {Libc.Describe(statErrno)}.")
                    : new SecretInputException(SecretInputError.WrongSource, $"Secret file '{path}' is not a regular file ({(type == Libc.S_IFIFO ? "a FIFO" : type == Libc.S_IFCHR ? "a character device" : type == Libc.S_IFSOCK ? "a socket" : "not a file")}); pass a pipe as a descriptor instead.");
            }

            return ReadDescriptor(fd, $"file '{path}'", options with { StopAtNewline = false }, CancellationToken.None);
        }
        finally
        {
            _ = Libc.close(fd);
        }
    }

    /// <summary>Reads the systemd credential <paramref name="name"/> from <c>$CREDENTIALS_DIRECTORY</c>.</summary>
    public static SecretBuffer ReadSystemdCredential(string name, SecretReadOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Contains('/', StringComparison.Ordinal) || name is "." or "..")
        {
            throw new ArgumentException($"'{name}' is not a credential name.", nameof(name));
        }

        string? directory = Environment.GetEnvironmentVariable("CREDENTIALS_DIRECTORY");
        if (string.IsNullOrEmpty(directory))
        {
            throw new SecretInputException(SecretInputError.NotFound, $"No systemd credentials: $CREDENTIALS_DIRECTORY is not set (add LoadCredential={name}:… or SetCredentialEncrypted= to the unit).");
        }

        string path = Path.Combine(directory, name);
        if (!File.Exists(path))
        {
            throw new SecretInputException(SecretInputError.NotFound, $"systemd credential '{name}' is not in $CREDENTIALS_DIRECTORY ({directory}).");
        }

        return ReadFromFile(path, options);
    }

    private static SecretBuffer ReadDescriptor(int fd, string source, SecretReadOptions options, CancellationToken cancellationToken)
    {
        // A pipe or socket can block forever: with a token that can fire, each read waits in poll(2)
        // together with a wake-up pipe that the cancellation writes to (already cancelled: it ends at once,
        // the same way: SecretInputError.Interrupted).
        using WakePipe? wake = cancellationToken.CanBeCanceled ? new WakePipe() : null;
        using CancellationTokenRegistration registration = wake is null ? default : cancellationToken.Register(static w => ((WakePipe)w!).Wake("cancelled"), wake);
        // Room for the maximum, a CR LF pair, and one byte more to see that the input is too long.
        int capacity = options.MaxBytes + 3;
        SecretBuffer buffer = SecretMemory.Allocate(capacity);
        bool ok = false;
        try
        {
            int length;
            using (SecretBuffer.Scope scope = buffer.Open())
            {
                length = Fill(fd, scope.WholeCapacity, source, options, wake);
            }

            FinishLine(buffer, length, source, options);
            ok = true;
            return buffer;
        }
        finally
        {
            if (!ok)
            {
                buffer.Dispose();
            }
        }
    }

    private static int Fill(int fd, Span<byte> target, string source, SecretReadOptions options, WakePipe? wake)
    {
        int filled = 0;
        fixed (byte* start = target)
        {
            while (filled < target.Length)
            {
                nuint want = options.StopAtNewline ? 1 : (nuint)(target.Length - filled);
                _ = wake?.WaitReadable(fd, source);
                nint n = Libc.read(fd, start + filled, want);
                if (n < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == Libc.EINTR)
                    {
                        continue;
                    }

                    throw errno == Libc.EBADF
                        ? new SecretInputException(SecretInputError.DescriptorClosed, $"The {source} was closed while reading the secret.")
                        : new SecretInputException(SecretInputError.IoError, $"Reading the secret from {source} failed: {Libc.Describe(errno)}.");
                }

                if (n == 0)
                {
                    break;
                }

                filled += (int)n;
                if (options.StopAtNewline && start[filled - 1] == (byte)'\n')
                {
                    break;
                }
            }
        }

        return filled;
    }

    /// <summary>Drops one trailing newline (LF or CR LF), then checks length; zeroes everything on error.</summary>
    private static void FinishLine(SecretBuffer buffer, int length, string source, SecretReadOptions options)
    {
        using (SecretBuffer.Scope scope = buffer.Open())
        {
            Span<byte> bytes = scope.WholeCapacity;
            if (length > options.MaxBytes + 2)
            {
                CryptographicOperations.ZeroMemory(bytes);
                throw new SecretInputException(SecretInputError.TooLong, $"The secret from {source} is longer than the maximum of {options.MaxBytes} bytes; nothing was kept.");
            }

            if (length > 0 && bytes[length - 1] == (byte)'\n')
            {
                length--;
                if (length > 0 && bytes[length - 1] == (byte)'\r')
                {
                    length--;
                }
            }

            if (length > options.MaxBytes)
            {
                CryptographicOperations.ZeroMemory(bytes);
                throw new SecretInputException(SecretInputError.TooLong, $"The secret from {source} is longer than the maximum of {options.MaxBytes} bytes; nothing was kept.");
            }

            if (length == 0)
            {
                CryptographicOperations.ZeroMemory(bytes);
                throw new SecretInputException(SecretInputError.Empty, $"The secret from {source} is empty.");
            }
        }

        buffer.Truncate(length);
    }
}
