using System.Runtime.InteropServices;
using ActorVault.Memory.Interop;

namespace ActorVault.Memory.Readers;

/// <summary>
/// Lets a blocking read be interrupted: the reader polls its descriptor together with this pipe's read
/// end, and <see cref="Wake"/> (a cancellation, a signal) writes one byte to the other end. Safe to wake
/// from any thread, before or after the wait, and after disposal (then it does nothing).
/// </summary>
internal sealed unsafe class WakePipe : IDisposable
{
    private readonly Lock _gate = new();
    private readonly int _read;
    private readonly int _write;
    private volatile string? _reason;
    private bool _disposed;

    public WakePipe()
    {
        int* fds = stackalloc int[2];
        if (Libc.pipe2(fds, Libc.O_CLOEXEC | Libc.O_NONBLOCK) != 0)
        {
            throw new SecretInputException(SecretInputError.IoError, $"pipe2 failed: {Libc.Describe(Marshal.GetLastPInvokeError())}.");
        }

        _read = fds[0];
        _write = fds[1];
    }

    /// <summary>Why the wait was interrupted (the first reason given), or null.</summary>
    public string? Reason => _reason;

    public void Wake(string reason)
    {
        _reason ??= reason;
        lock (_gate)
        {
            if (!_disposed)
            {
                byte one = 1;
                _ = Libc.write(_write, &one, 1);
            }
        }
    }

    /// <summary>
    /// Waits until <paramref name="fd"/> is readable (or hung up) or a wake-up came; returns the events
    /// of <paramref name="fd"/>, or throws <see cref="SecretInputException"/> (<see cref="SecretInputError.Interrupted"/>
    /// naming <paramref name="source"/> and the reason) when woken.
    /// </summary>
    public short WaitReadable(int fd, string source)
    {
        Libc.PollFd* fds = stackalloc Libc.PollFd[2];
        while (true)
        {
            fds[0] = new Libc.PollFd { Fd = fd, Events = Libc.POLLIN };
            fds[1] = new Libc.PollFd { Fd = _read, Events = Libc.POLLIN };
            int ready = Libc.poll(fds, 2, -1);
            if (ready < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == Libc.EINTR)
                {
                    continue;
                }

                throw new SecretInputException(SecretInputError.IoError, $"poll on {source} failed: {Libc.Describe(errno)}.");
            }

            if (_reason is { } reason)
            {
                throw new SecretInputException(SecretInputError.Interrupted, $"Reading the secret from {source} was interrupted ({reason}); nothing was kept.");
            }

            if (fds[0].REvents != 0)
            {
                return fds[0].REvents;
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _ = Libc.close(_write);
            _ = Libc.close(_read);
        }
    }
}
