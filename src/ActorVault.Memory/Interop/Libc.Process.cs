using System.Runtime.InteropServices;

namespace ActorVault.Memory.Interop;

/// <summary>Process, signal and pseudo-terminal calls (the test harness drives real processes with them).</summary>
internal static unsafe partial class Libc
{
    internal const int SIGINT = 2;
    internal const int SIGQUIT = 3;
    internal const int SIGKILL = 9;
    internal const int SIGUSR1 = 10;
    internal const int SIGTERM = 15;
    internal const int SIGCONT = 18;
    internal const int SIGTSTP = 20;
    internal const int SIGHUP = 1;

    internal const int PTRACE_ATTACH = 16;
    internal const int PTRACE_DETACH = 17;

    internal const long SYS_pidfd_open = 434;

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int kill(int pid, int signal);

    [LibraryImport(Lib, EntryPoint = "syscall", SetLastError = true)]
    internal static partial long syscall2(long number, long arg1, long arg2);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial long ptrace(long request, int pid, nint address, nint data);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int posix_openpt(int flags);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int grantpt(int fd);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int unlockpt(int fd);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int ptsname_r(int fd, byte* buffer, nuint length);

    [LibraryImport(Lib)]
    internal static partial uint geteuid();

    [LibraryImport(Lib)]
    internal static partial int getppid();

    internal const int F_DUPFD_CLOEXEC = 1030;
    internal const int F_GETFD = 1;
    internal const int FD_CLOEXEC = 1;

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int fcntl(int fd, int command, int argument);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int execve(byte* path, byte** argv, byte** envp);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int setsid();

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int dup2(int fd, int newFd);

    [LibraryImport(Lib, EntryPoint = "_exit")]
    internal static partial void _exit(int status);
}
