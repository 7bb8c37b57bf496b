using System.Runtime.InteropServices;

namespace ActorVault.Memory.Interop;

/// <summary>posix_spawn and waitpid: start a command with a secret on one of its descriptors.</summary>
internal static unsafe partial class Libc
{
    internal const int ECHILD = 10;
    internal const short POSIX_SPAWN_SETSIGMASK = 0x08;
    internal const short POSIX_SPAWN_SETSIGDEF = 0x04;

    /// <summary>glibc's posix_spawn_file_actions_t is 80 bytes and posix_spawnattr_t 336; room for both.</summary>
    internal const int SpawnStructSize = 512;

    /// <summary>sigset_t is 1024 bits in glibc.</summary>
    internal const int SigSetSize = 128;

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int posix_spawn_file_actions_init(byte* actions);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int posix_spawn_file_actions_adddup2(byte* actions, int fd, int newFd);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int posix_spawn_file_actions_destroy(byte* actions);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int posix_spawnattr_init(byte* attributes);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int posix_spawnattr_setflags(byte* attributes, short flags);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int posix_spawnattr_setsigmask(byte* attributes, byte* sigset);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int posix_spawnattr_setsigdefault(byte* attributes, byte* sigset);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int posix_spawnattr_destroy(byte* attributes);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int posix_spawnp(int* pid, byte* file, byte* actions, byte* attributes, byte** argv, byte** envp);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int waitpid(int pid, int* status, int options);

    /// <summary>The process's environment block (<c>char **environ</c>).</summary>
    internal static byte** Environ => *(byte***)EnvironAddress.Value;

    private static readonly Lazy<nint> EnvironAddress = new(static () => NativeLibrary.GetExport(NativeLibrary.Load("libc.so.6"), "environ"));
}
