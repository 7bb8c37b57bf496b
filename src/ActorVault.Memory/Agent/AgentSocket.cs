using System.Runtime.InteropServices;
using ActorVault.Memory;
using ActorVault.Memory.Interop;

namespace ActorVault.Agent;

/// <summary>One received frame: its header, its secret part (in secret memory) and a passed descriptor; disposing zeroes and closes them.</summary>
internal sealed class AgentFrame : IDisposable
{
    private int _descriptor;

    public AgentFrame(AgentHeader header, SecretBuffer? secret, int descriptor)
    {
        Header = header;
        Secret = secret;
        _descriptor = descriptor;
    }

    public AgentHeader Header { get; }

    public SecretBuffer? Secret { get; private set; }

    /// <summary>The descriptor passed with the frame, or -1.</summary>
    public int Descriptor => _descriptor;

    /// <summary>Takes the secret part: the caller owns it from now on.</summary>
    public SecretBuffer? TakeSecret()
    {
        SecretBuffer? secret = Secret;
        Secret = null;
        return secret;
    }

    /// <summary>Takes the passed descriptor: the caller closes it.</summary>
    public int TakeDescriptor() => Interlocked.Exchange(ref _descriptor, -1);

    public void Dispose()
    {
        Secret?.Dispose();
        Secret = null;
        int fd = TakeDescriptor();
        if (fd >= 0)
        {
            _ = Libc.close(fd);
        }
    }
}

/// <summary>
/// A connected Unix stream socket speaking <see cref="AgentProtocol"/>, on a raw descriptor: frames are
/// sent with one <c>sendmsg</c> (header from the stack, secret straight from secret memory, an optional
/// descriptor as <c>SCM_RIGHTS</c>) and received with <c>recvmsg</c> (the secret part straight into a new
/// secret buffer). Sends are serialised; one thread receives. A frame that has begun must complete
/// within <see cref="FrameTimeout"/>.
/// </summary>
internal sealed unsafe class AgentSocket : IDisposable
{
    /// <summary>Longest wait for the rest of a frame once its first byte came, and for a send.</summary>
    public static readonly TimeSpan FrameTimeout = TimeSpan.FromSeconds(10);

    private readonly Lock _send = new();
    private int _fd;
    private int _shutdown;

    private AgentSocket(int fd)
    {
        _fd = fd;
        var timeout = new Libc.TimeVal { Seconds = (long)FrameTimeout.TotalSeconds };
        _ = Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_SNDTIMEO, &timeout, (uint)sizeof(Libc.TimeVal));
    }

    public int Descriptor => _fd;

    /// <summary>Takes ownership of a connected socket descriptor (one <c>accept4</c> returned).</summary>
    public static AgentSocket Adopt(int fd) => new(fd);

    /// <summary>Connects to the host's socket at <paramref name="path"/>; throws <see cref="IOException"/> naming the errno.</summary>
    public static AgentSocket Connect(string path)
    {
        byte* address = stackalloc byte[2 + Libc.UnixPathMax];
        if (!Libc.TryUnixAddress(path, address, out uint length))
        {
            throw new IOException($"The socket path '{path}' is longer than {Libc.UnixPathMax - 1} bytes.");
        }

        int fd = Libc.socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            throw new IOException($"socket failed: {Libc.Describe(Marshal.GetLastPInvokeError())}.");
        }

        while (Libc.connect(fd, address, length) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == Libc.EINTR)
            {
                continue;
            }

            _ = Libc.close(fd);
            throw new AgentConnectException(errno, path);
        }

        return new AgentSocket(fd);
    }

    /// <summary>The peer's pid and uid as the kernel recorded them at connect time (<c>SO_PEERCRED</c>).</summary>
    public (int Pid, uint Uid) PeerCredentials()
    {
        int* ucred = stackalloc int[3];
        uint length = 12;
        return Libc.getsockopt(_fd, Libc.SOL_SOCKET, Libc.SO_PEERCRED, ucred, &length) == 0 && length >= 12
            ? (ucred[0], (uint)ucred[1])
            : (0, uint.MaxValue);
    }

    /// <summary>Sends one frame. Throws <see cref="IOException"/> when the peer is gone or does not read within <see cref="FrameTimeout"/>.</summary>
    public void Send(AgentHeader header, ReadOnlySpan<byte> secret = default, int passDescriptor = -1)
    {
        Span<byte> frame = stackalloc byte[AgentProtocol.PrefixBytes + AgentProtocol.MaxHeaderBytes];
        int length = AgentProtocol.Encode(header, secret.Length, frame);
        byte* control = stackalloc byte[sizeof(Libc.CMsgHdr) + 8];
        lock (_send)
        {
            fixed (byte* head = frame)
            fixed (byte* body = secret)
            {
                Libc.IoVec* iov = stackalloc Libc.IoVec[2];
                iov[0] = new Libc.IoVec { Base = head, Length = (nuint)length };
                iov[1] = new Libc.IoVec { Base = body, Length = (nuint)secret.Length };
                var message = new Libc.MsgHdr { Iov = iov, IovLength = secret.IsEmpty ? 1u : 2u };
                if (passDescriptor >= 0)
                {
                    var cmsg = (Libc.CMsgHdr*)control;
                    cmsg->Length = (nuint)(sizeof(Libc.CMsgHdr) + sizeof(int));
                    cmsg->Level = Libc.SOL_SOCKET;
                    cmsg->Type = Libc.SCM_RIGHTS;
                    *(int*)(control + sizeof(Libc.CMsgHdr)) = passDescriptor;
                    message.Control = control;
                    message.ControlLength = (nuint)(sizeof(Libc.CMsgHdr) + 8);
                }

                long total = length + (long)secret.Length;
                long sent = 0;
                while (sent < total)
                {
                    nint n = Libc.sendmsg(_fd, &message, Libc.MSG_NOSIGNAL);
                    if (n < 0)
                    {
                        int errno = Marshal.GetLastPInvokeError();
                        if (errno == Libc.EINTR)
                        {
                            continue;
                        }

                        throw new IOException(errno == Libc.EAGAIN
                            ? $"The peer did not take a frame within {FrameTimeout.TotalSeconds:0} s."
                            : $"Sending a frame failed: {Libc.Describe(errno)}.");
                    }

                    sent += n;
                    // The descriptor went with the first byte; a short send continues without it.
                    message.Control = null;
                    message.ControlLength = 0;
                    Advance(iov, ref message, n);
                }
            }
        }
    }

    /// <summary>
    /// Receives one frame; null on a clean end of input between frames. Throws
    /// <see cref="AgentProtocolException"/> for a malformed frame, a descriptor on a frame that may not carry
    /// one, or a frame cut off; <see cref="IOException"/> for socket errors.
    /// </summary>
    public AgentFrame? Receive()
    {
        int descriptor = -1;
        byte* prefix = stackalloc byte[AgentProtocol.PrefixBytes];
        try
        {
            if (!Fill(prefix, AgentProtocol.PrefixBytes, ref descriptor, frameStarted: false))
            {
                return null;
            }

            (int headerLength, int secretLength) = AgentProtocol.ReadPrefix(new ReadOnlySpan<byte>(prefix, AgentProtocol.PrefixBytes));
            byte* header = stackalloc byte[headerLength];
            _ = Fill(header, headerLength, ref descriptor, frameStarted: true);
            AgentHeader parsed = AgentProtocol.Decode(new ReadOnlySpan<byte>(header, headerLength));
            if (descriptor >= 0 && parsed.Kind != AgentKind.WriteTo)
            {
                throw new AgentProtocolException($"A {parsed.Kind} frame may not carry a descriptor.");
            }

            SecretBuffer? secret = null;
            if (secretLength > 0)
            {
                secret = SecretMemory.Allocate(secretLength);
                try
                {
                    using SecretBuffer.Scope scope = secret.Open();
                    fixed (byte* target = scope.WritableBytes)
                    {
                        _ = Fill(target, secretLength, ref descriptor, frameStarted: true);
                    }
                }
                catch
                {
                    secret.Dispose();
                    throw;
                }
            }

            var frame = new AgentFrame(parsed, secret, descriptor);
            descriptor = -1;
            return frame;
        }
        finally
        {
            if (descriptor >= 0)
            {
                _ = Libc.close(descriptor);
            }
        }
    }

    /// <summary>Ends both directions: a thread blocked in <see cref="Receive"/> sees end of input. The descriptor stays open until <see cref="Dispose"/>.</summary>
    public void Shutdown()
    {
        if (Interlocked.Exchange(ref _shutdown, 1) == 0)
        {
            _ = Libc.shutdown(_fd, Libc.SHUT_RDWR);
        }
    }

    public void Dispose()
    {
        Shutdown();
        lock (_send)
        {
            int fd = Interlocked.Exchange(ref _fd, -1);
            if (fd >= 0)
            {
                _ = Libc.close(fd);
            }
        }
    }

    private static void Advance(Libc.IoVec* iov, ref Libc.MsgHdr message, nint n)
    {
        nint left = n;
        while (left > 0 && message.IovLength > 0)
        {
            Libc.IoVec* first = message.Iov;
            if ((nuint)left >= first->Length)
            {
                left -= (nint)first->Length;
                message.Iov++;
                message.IovLength--;
            }
            else
            {
                first->Base += left;
                first->Length -= (nuint)left;
                left = 0;
            }
        }
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes; false on end of input before the first byte of a frame.</summary>
    private bool Fill(byte* target, int count, ref int descriptor, bool frameStarted)
    {
        byte* control = stackalloc byte[sizeof(Libc.CMsgHdr) + 4 * sizeof(int) + 8];
        int filled = 0;
        long deadline = 0;
        while (filled < count)
        {
            if (frameStarted || filled > 0)
            {
                deadline = deadline == 0 ? Environment.TickCount64 + (long)FrameTimeout.TotalMilliseconds : deadline;
                var poll = new Libc.PollFd { Fd = _fd, Events = Libc.POLLIN };
                int waited = Libc.poll(&poll, 1, (int)Math.Max(0, deadline - Environment.TickCount64));
                if (waited == 0)
                {
                    throw new AgentProtocolException($"A frame was not completed within {FrameTimeout.TotalSeconds:0} s.");
                }
            }

            var iov = new Libc.IoVec { Base = target + filled, Length = (nuint)(count - filled) };
            var message = new Libc.MsgHdr { Iov = &iov, IovLength = 1, Control = control, ControlLength = (nuint)(sizeof(Libc.CMsgHdr) + 4 * sizeof(int) + 8) };
            nint n = Libc.recvmsg(_fd, &message, Libc.MSG_CMSG_CLOEXEC);
            if (n < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno is Libc.EINTR or Libc.EAGAIN)
                {
                    continue;
                }

                throw new IOException($"Receiving a frame failed: {Libc.Describe(errno)}.");
            }

            TakeDescriptors(&message, ref descriptor);
            if (n == 0)
            {
                if (!frameStarted && filled == 0)
                {
                    return false;
                }

                throw new AgentProtocolException($"The peer closed the connection inside a frame ({filled} of {count} bytes).");
            }

            filled += (int)n;
        }

        return true;
    }

    /// <summary>Keeps the first descriptor passed within a frame; closes every other one (a peer cannot leak descriptors into us).</summary>
    private static void TakeDescriptors(Libc.MsgHdr* message, ref int descriptor)
    {
        if (message->ControlLength < (nuint)sizeof(Libc.CMsgHdr))
        {
            return;
        }

        var cmsg = (Libc.CMsgHdr*)message->Control;
        if (cmsg->Level != Libc.SOL_SOCKET || cmsg->Type != Libc.SCM_RIGHTS)
        {
            return;
        }

        int count = (int)((cmsg->Length - (nuint)sizeof(Libc.CMsgHdr)) / sizeof(int));
        int* fds = (int*)((byte*)cmsg + sizeof(Libc.CMsgHdr));
        for (int i = 0; i < count; i++)
        {
            if (descriptor < 0)
            {
                descriptor = fds[i];
            }
            else
            {
                _ = Libc.close(fds[i]);
            }
        }
    }
}

/// <summary>No host listens at the socket path (or it is not reachable): one sentence a user can act on.</summary>
internal sealed class AgentConnectException : IOException
{
    public AgentConnectException(int errno, string path)
        : base(errno switch
        {
            Libc.ENOENT => $"No actorvault host at '{path}': start one with 'actorvault serve' (or set {AgentProtocol.SocketVariable}).",
            Libc.ECONNREFUSED => $"No actorvault host at '{path}' (a stale socket of a host that died): start one with 'actorvault serve'.",
            Libc.EACCES or Libc.EPERM => $"The actorvault host socket '{path}' is not this user's: permission denied.",
            _ => $"Cannot connect to the actorvault host at '{path}': {Libc.Describe(errno)}.",
        })
    {
        Errno = errno;
    }

    public int Errno { get; }
}
