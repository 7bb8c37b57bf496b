using System.Diagnostics;
using System.Runtime.InteropServices;
using ActorVault.Memory.Interop;

namespace ActorVault.Testing;

/// <summary>
/// Waits for any process (not only our children) to exit, as an event: pidfd_open(2) gives a
/// descriptor that becomes readable when the process terminates.
/// </summary>
public static unsafe class ProcessExit
{
    /// <summary>
    /// Waits until <paramref name="pid"/> has exited; returns the time it took from the call, or null
    /// when it was still running at <paramref name="timeout"/>. An already-gone pid returns zero.
    /// </summary>
    public static TimeSpan? Wait(int pid, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        int fd = (int)Libc.syscall2(Libc.SYS_pidfd_open, pid, 0);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            return errno == 3 /* ESRCH */ ? TimeSpan.Zero : throw new InvalidOperationException($"pidfd_open({pid}) failed: {Libc.Describe(errno)}");
        }

        try
        {
            var pfd = new Libc.PollFd { Fd = fd, Events = Libc.POLLIN };
            while (true)
            {
                int left = (int)Math.Max(0, (timeout - watch.Elapsed).TotalMilliseconds);
                int n = Libc.poll(&pfd, 1, left);
                if (n > 0)
                {
                    return watch.Elapsed;
                }

                if (n == 0)
                {
                    return null;
                }

                if (Marshal.GetLastPInvokeError() != Libc.EINTR)
                {
                    throw new InvalidOperationException($"poll on pidfd of {pid} failed.");
                }
            }
        }
        finally
        {
            _ = Libc.close(fd);
        }
    }

    /// <summary>SIGKILL.</summary>
    public const int SigKill = 9;

    /// <summary>Sends <paramref name="signal"/> to <paramref name="pid"/>; throws if the kernel refuses.</summary>
    public static void Signal(int pid, int signal)
    {
        if (!ActorVault.Memory.ProcessSignals.Send(pid, signal))
        {
            throw new InvalidOperationException($"kill({pid}, {signal}): no such process");
        }
    }

    /// <summary>True when <paramref name="pid"/> is alive and not a zombie.</summary>
    public static bool IsRunning(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            int close = stat.LastIndexOf(')');
            return close > 0 && stat.Length > close + 2 && stat[close + 2] != 'Z' && stat[close + 2] != 'X';
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return true;
        }
    }
}
