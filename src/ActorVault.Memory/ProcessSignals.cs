using System.Runtime.InteropServices;
using ActorVault.Memory.Interop;

namespace ActorVault.Memory;

/// <summary>Sends a signal to a process (the vault supervisor's SIGTERM step; .NET only offers SIGKILL).</summary>
public static class ProcessSignals
{
    /// <summary>SIGTERM.</summary>
    public const int Terminate = 15;

    /// <summary>Sends <paramref name="signal"/> to <paramref name="pid"/>; false when the process is gone.</summary>
    public static bool Send(int pid, int signal)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pid);
        if (Libc.kill(pid, signal) == 0)
        {
            return true;
        }

        int errno = Marshal.GetLastPInvokeError();
        return errno == 3 /* ESRCH */ ? false : throw new InvalidOperationException($"kill({pid}, {signal}) failed: {Libc.Describe(errno)}");
    }
}
