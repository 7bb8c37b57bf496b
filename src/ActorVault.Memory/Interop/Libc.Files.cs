using System.Runtime.InteropServices;

namespace ActorVault.Memory.Interop;

/// <summary>File calls for files that carry key material (the standalone host's connection info).</summary>
internal static unsafe partial class Libc
{
    internal const int O_WRONLY = 1;
    internal const int O_CREAT = 0x40;
    internal const int O_EXCL = 0x80;
    internal const int O_NOFOLLOW = 0x20000;
    internal const int O_DIRECTORY = 0x10000;
    internal const int O_PATH = 0x200000;
    internal const int S_IFDIR = 0x4000;
    internal const int S_IFLNK = 0xA000;
    internal const int ELOOP = 40;
    internal const int EEXIST = 17;

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int fsync(int fd);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int unlink(string path);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int fchmod(int fd, int mode);

    /// <summary>Type and permission bits, owner and size of an open descriptor (fstat).</summary>
    internal static bool TryStat(int fd, out int mode, out uint uid, out long size, out int errno)
    {
        // struct stat is 144 bytes on x86_64 and 128 on arm64; 256 covers both.
        byte* buffer = stackalloc byte[256];
        if (fstat(fd, buffer) != 0)
        {
            errno = Marshal.GetLastPInvokeError();
            mode = 0;
            uid = 0;
            size = 0;
            return false;
        }

        errno = 0;
        bool x64 = RuntimeInformation.ProcessArchitecture == Architecture.X64;
        mode = *(int*)(buffer + (x64 ? 24 : 16));
        uid = *(uint*)(buffer + (x64 ? 28 : 24));
        size = *(long*)(buffer + 48);
        return true;
    }
}
