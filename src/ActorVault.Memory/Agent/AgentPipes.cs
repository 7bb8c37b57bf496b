using System.Runtime.InteropServices;
using ActorVault.Memory.Interop;

namespace ActorVault.Agent;

/// <summary>
/// The pipe of <c>actorvault exec</c>: the client makes it and passes its write end to the host
/// (<c>SCM_RIGHTS</c>); the host writes the secret into it straight from its lease and closes it. The
/// client process never holds the bytes: they go from the vault's lease to the kernel's pipe buffer to
/// the command.
/// </summary>
internal static unsafe class AgentPipes
{
    private const int F_GETFL = 3;
    private const int F_SETFL = 4;
    private const int F_SETPIPE_SZ = 1031;
    private const int O_ACCMODE = 3;

    /// <summary>A close-on-exec pipe large enough for the largest secret; returns (read end, write end).</summary>
    public static (int Read, int Write) Create()
    {
        int* ends = stackalloc int[2];
        if (Libc.pipe2(ends, Libc.O_CLOEXEC) != 0)
        {
            throw new IOException($"pipe2 failed: {Libc.Describe(Marshal.GetLastPInvokeError())}.");
        }

        // The host fills the pipe before the command starts: it must hold a whole secret. (When the
        // user's pipe quota is spent the kernel refuses; a secret over the default 64 KiB cannot exist.)
        _ = Libc.fcntl(ends[1], F_SETPIPE_SZ, AgentProtocol.MaxSecretBytes);
        return (ends[0], ends[1]);
    }

    /// <summary>
    /// Writes <paramref name="bytes"/> into pipe <paramref name="fd"/> (which must be a pipe's write end)
    /// without blocking longer than <paramref name="timeout"/>. Failures are <see cref="AgentRequestException"/>s
    /// for the client, never a reason to close its connection.
    /// </summary>
    public static void WriteAll(int fd, ReadOnlySpan<byte> bytes, TimeSpan timeout)
    {
        if (!Libc.TryStat(fd, out int mode, out _, out _, out _) || (mode & Libc.S_IFMT) != Libc.S_IFIFO)
        {
            throw new AgentRequestException(AgentError.BadRequest, "The descriptor passed for the secret is not a pipe; the host writes secrets into pipes only.");
        }

        int flags = Libc.fcntl(fd, F_GETFL, 0);
        if (flags < 0 || (flags & O_ACCMODE) != Libc.O_WRONLY || Libc.fcntl(fd, F_SETFL, flags | Libc.O_NONBLOCK) < 0)
        {
            throw new AgentRequestException(AgentError.BadRequest, "The pipe passed for the secret is not a write end.");
        }

        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        fixed (byte* start = bytes)
        {
            int written = 0;
            while (written < bytes.Length)
            {
                nint n = Libc.write(fd, start + written, (nuint)(bytes.Length - written));
                if (n >= 0)
                {
                    written += (int)n;
                    continue;
                }

                int errno = Marshal.GetLastPInvokeError();
                if (errno == Libc.EINTR)
                {
                    continue;
                }

                if (errno != Libc.EAGAIN)
                {
                    throw new AgentRequestException(AgentError.BadRequest, $"Writing the secret into the pipe failed after {written} of {bytes.Length} bytes: {Libc.Describe(errno)}.");
                }

                var poll = new Libc.PollFd { Fd = fd, Events = 0x004 /* POLLOUT */ };
                long left = deadline - Environment.TickCount64;
                if (left <= 0 || Libc.poll(&poll, 1, (int)left) == 0)
                {
                    throw new AgentRequestException(AgentError.BadRequest, $"The pipe did not take the secret within {timeout.TotalSeconds:0} s (is it full?).");
                }
            }
        }
    }

    public static void Close(ref int fd)
    {
        if (fd >= 0)
        {
            _ = Libc.close(fd);
            fd = -1;
        }
    }
}
