using System.Runtime.InteropServices;
using ActorVault.Memory.Interop;

namespace ActorVault.Memory.Processes;

/// <summary>
/// Tells a child process, at once and whatever its other threads are doing, that its parent is gone.
/// One dedicated thread blocks in <c>poll(2)</c> on a pidfd of the parent process (readable when that
/// process exits — a process-wide event, unlike <c>PR_SET_PDEATHSIG</c>, which fires when the forking
/// <em>thread</em> ends and would kill a vault whose parent merely retired a thread-pool thread) and on
/// the hang-up of the descriptors the parent holds the other end of (the link socket, stdin).
/// </summary>
/// <remarks>
/// The expected parent pid is checked against <c>getppid()</c> after the pidfd is open, so a parent
/// that died before the watch started (the child was re-parented) is seen at once, not missed.
/// Where pidfds are missing (Linux &lt; 5.3), <c>getppid()</c> is polled every 100 ms instead.
/// </remarks>
public sealed class ParentWatch
{
    private readonly int _parentPid;
    private readonly Action<string> _onGone;
    private readonly Lock _gate = new();
    private readonly List<(int Fd, string Name)> _hangups = [];
    private int _wake = -1;
    private int _fired;

    private ParentWatch(int parentPid, Action<string> onGone)
    {
        _parentPid = parentPid;
        _onGone = onGone;
    }

    /// <summary>This process's parent pid now (<c>getppid()</c>).</summary>
    public static int CurrentParent => Libc.getppid();

    /// <summary>
    /// Starts watching <paramref name="expectedParentPid"/> (0: the current parent). <paramref name="onGone"/>
    /// runs once, on the watch thread, with a short reason; it must not block for long.
    /// </summary>
    public static unsafe ParentWatch Start(int expectedParentPid, Action<string> onGone)
    {
        ArgumentNullException.ThrowIfNull(onGone);
        int parent = expectedParentPid > 0 ? expectedParentPid : Libc.getppid();
        var watch = new ParentWatch(parent, onGone);
        int* pipe = stackalloc int[2];
        if (Libc.pipe2(pipe, Libc.O_CLOEXEC | Libc.O_NONBLOCK) == 0)
        {
            int readEnd = pipe[0];
            watch._wake = pipe[1];
            var thread = new Thread(() => watch.Run(readEnd))
            {
                IsBackground = true,
                Name = "actorvault-parent-watch",
            };
            thread.Start();
        }
        else
        {
            throw new InvalidOperationException($"pipe2 for the parent watch failed: {Libc.Describe(Marshal.GetLastPInvokeError())}.");
        }

        return watch;
    }

    /// <summary>
    /// Also ends the watch (as the parent's death) when <paramref name="fd"/> hangs up: the peer closed
    /// its end (a socket's <c>POLLRDHUP</c>, a pipe's <c>POLLHUP</c>). Data on the descriptor is not read.
    /// </summary>
    public unsafe void WatchHangup(int fd, string name)
    {
        // A duplicate of its own: closing the original (the transport does at shutdown) is not a hang-up.
        int own = Libc.fcntl(fd, Libc.F_DUPFD_CLOEXEC, 3);
        if (own < 0)
        {
            throw new InvalidOperationException($"Cannot watch {name}: {Libc.Describe(Marshal.GetLastPInvokeError())}.");
        }

        lock (_gate)
        {
            _hangups.Add((own, name));
        }

        byte one = 1;
        _ = Libc.write(_wake, &one, 1);
    }

    private unsafe void Run(int pipe0)
    {
        int pidfd = (int)Libc.syscall2(Libc.SYS_pidfd_open, _parentPid, 0);
        if (pidfd >= 0 && Libc.getppid() != _parentPid)
        {
            Fire($"parent process {_parentPid} was gone before the watch started");
            return;
        }

        const int MaxWatched = 8;
        Libc.PollFd* fds = stackalloc Libc.PollFd[2 + MaxWatched];
        byte* drain = stackalloc byte[16];
        while (true)
        {
            (int Fd, string Name)[] hangups;
            lock (_gate)
            {
                hangups = [.. _hangups.Take(MaxWatched)];
            }

            int count = 2 + hangups.Length;
            fds[0] = new Libc.PollFd { Fd = pipe0, Events = Libc.POLLIN };
            fds[1] = new Libc.PollFd { Fd = pidfd, Events = Libc.POLLIN };
            for (int i = 0; i < hangups.Length; i++)
            {
                fds[2 + i] = new Libc.PollFd { Fd = hangups[i].Fd, Events = Libc.POLLRDHUP };
            }

            int ready = Libc.poll(fds, (nuint)count, pidfd >= 0 ? -1 : 100);
            if (ready < 0 && Marshal.GetLastPInvokeError() == Libc.EINTR)
            {
                continue;
            }

            if (pidfd < 0 && Libc.getppid() != _parentPid)
            {
                Fire($"parent process {_parentPid} is gone");
                return;
            }

            if (pidfd >= 0 && (fds[1].REvents & (Libc.POLLIN | Libc.POLLHUP | Libc.POLLERR)) != 0)
            {
                Fire($"parent process {_parentPid} exited");
                return;
            }

            for (int i = 0; i < hangups.Length; i++)
            {
                if ((fds[2 + i].REvents & (Libc.POLLRDHUP | Libc.POLLHUP | Libc.POLLERR | Libc.POLLNVAL)) != 0)
                {
                    Fire($"the parent closed {hangups[i].Name}");
                    return;
                }
            }

            if ((fds[0].REvents & Libc.POLLIN) != 0)
            {
                _ = Libc.read(pipe0, drain, 16);
            }
        }
    }

    private void Fire(string reason)
    {
        if (Interlocked.Exchange(ref _fired, 1) == 0)
        {
            _onGone(reason);
        }
    }
}

/// <summary>Ends the process at once, with no managed shutdown (for a child whose parent is gone, after zeroing).</summary>
public static class ProcessExit
{
    /// <summary><c>_exit(2)</c> with <paramref name="code"/>.</summary>
    public static void Now(int code) => Libc._exit(code);

    /// <summary>
    /// Waits until process <paramref name="pid"/> is gone (a pidfd turns readable), at most
    /// <paramref name="timeout"/>; true when it is gone. Without pidfds, /proc is checked every 50 ms.
    /// </summary>
    internal static unsafe bool WaitForExit(int pid, TimeSpan timeout)
    {
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        int pidfd = (int)Libc.syscall2(Libc.SYS_pidfd_open, pid, 0);
        if (pidfd < 0)
        {
            while (Directory.Exists($"/proc/{pid}") && Environment.TickCount64 < deadline)
            {
                Thread.Sleep(50);
            }

            return !Directory.Exists($"/proc/{pid}");
        }

        try
        {
            while (true)
            {
                var poll = new Libc.PollFd { Fd = pidfd, Events = Libc.POLLIN };
                long left = deadline - Environment.TickCount64;
                int n = Libc.poll(&poll, 1, (int)Math.Max(0, left));
                if (n > 0)
                {
                    return true;
                }

                if (n == 0 || left <= 0)
                {
                    return false;
                }
            }
        }
        finally
        {
            _ = Libc.close(pidfd);
        }
    }
}

/// <summary>Detaches a daemon from its terminal and its starter, as <c>ssh-agent</c> does.</summary>
internal static class ProcessDetach
{
    /// <summary>
    /// Starts a new session (no controlling terminal, no SIGHUP when the terminal closes) and points
    /// descriptors 0, 1 and 2 at <c>/dev/null</c>, so the starter's pipes see end of input. Returns the
    /// problem, or null.
    /// </summary>
    public static string? Detach()
    {
        if (Libc.setsid() < 0)
        {
            return $"setsid failed: {Libc.Describe(System.Runtime.InteropServices.Marshal.GetLastPInvokeError())}";
        }

        int devNull = Libc.open("/dev/null", Libc.O_RDWR | Libc.O_CLOEXEC, 0);
        if (devNull < 0)
        {
            return $"/dev/null: {Libc.Describe(System.Runtime.InteropServices.Marshal.GetLastPInvokeError())}";
        }

        for (int fd = 0; fd <= 2; fd++)
        {
            _ = Libc.dup2(devNull, fd);
        }

        _ = Libc.close(devNull);
        return null;
    }
}
