using System.Runtime.InteropServices;

namespace ActorVault.Memory.Interop;

/// <summary>glibc calls used by the secret-memory layer. Linux x86_64 and arm64 only.</summary>
internal static unsafe partial class Libc
{
    private const string Lib = "libc";

    internal const int PROT_NONE = 0;
    internal const int PROT_READ = 1;
    internal const int PROT_WRITE = 2;
    internal const int MAP_SHARED = 0x01;
    internal const int MAP_PRIVATE = 0x02;
    internal const int MAP_ANONYMOUS = 0x20;
    internal const int MAP_NORESERVE = 0x4000;
    internal static readonly nint MAP_FAILED = -1;
    internal const int MADV_DONTFORK = 10;
    internal const int MADV_DONTDUMP = 16;
    internal const int MADV_WIPEONFORK = 18;

    internal const int O_RDONLY = 0;
    internal const int O_RDWR = 2;
    internal const int O_NOCTTY = 0x100;
    internal const int O_NONBLOCK = 0x800;
    internal const int O_CLOEXEC = 0x80000;

    internal const int PR_GET_DUMPABLE = 3;
    internal const int PR_SET_DUMPABLE = 4;
    internal const int RLIMIT_CORE = 4;
    internal const int RLIMIT_MEMLOCK = 8;

    internal const long SYS_memfd_secret = 447;

    internal const int EINTR = 4;
    internal const int EIO = 5;
    internal const int ENXIO = 6;
    internal const int EBADF = 9;
    internal const int EAGAIN = 11;
    internal const int ENOMEM = 12;
    internal const int EACCES = 13;
    internal const int ENOENT = 2;
    internal const int EPERM = 1;
    internal const int ENOSYS = 38;
    internal const int ENOTTY = 25;

    internal const short POLLIN = 0x001;
    internal const short POLLERR = 0x008;
    internal const short POLLHUP = 0x010;
    internal const short POLLNVAL = 0x020;
    internal const short POLLRDHUP = 0x2000;

    internal const int S_IFMT = 0xF000;
    internal const int S_IFIFO = 0x1000;
    internal const int S_IFCHR = 0x2000;
    internal const int S_IFREG = 0x8000;
    internal const int S_IFSOCK = 0xC000;

    [StructLayout(LayoutKind.Sequential)]
    internal struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct PollFd
    {
        public int Fd;
        public short Events;
        public short REvents;
    }

    internal const ulong RLIM_INFINITY = ulong.MaxValue;

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int munmap(nint addr, nuint length);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int mprotect(nint addr, nuint length, int prot);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int mlock(nint addr, nuint length);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int munlock(nint addr, nuint length);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int madvise(nint addr, nuint length, int advice);

    [LibraryImport(Lib, EntryPoint = "syscall", SetLastError = true)]
    internal static partial long syscall1(long number, long arg1);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int ftruncate(int fd, long length);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int close(int fd);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial nint read(int fd, byte* buffer, nuint count);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial nint write(int fd, byte* buffer, nuint count);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int open(string path, int flags, int mode);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int pipe2(int* fds, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int fstat(int fd, byte* statBuffer);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int getrlimit(int resource, RLimit* limit);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int setrlimit(int resource, RLimit* limit);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int isatty(int fd);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int tcgetattr(int fd, byte* termios);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int tcsetattr(int fd, int optionalActions, byte* termios);

    [LibraryImport(Lib)]
    internal static partial int getpid();

    /// <summary>File type bits of <c>st_mode</c>, read with fstat (glibc ≥ 2.33 exports <c>fstat</c>).</summary>
    internal static int FileTypeOf(int fd, out int errno) =>
        TryStat(fd, out int mode, out _, out _, out errno) ? mode & S_IFMT : -1;

    internal static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno) + $" (errno {errno})";
}
