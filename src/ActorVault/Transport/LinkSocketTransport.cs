using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Threading.Channels;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Remote.Transport;
using Google.Protobuf;

namespace ActorVault.Transport;

/// <summary>
/// The sockets an actor system's <see cref="LinkSocketTransport"/> may use, handed to the system at
/// creation (<see cref="ActorSystemSetup"/>). The transport never listens and never connects: the
/// application side registers one connected Unix socket per vault child (checked by the kernel's
/// <c>SO_PEERCRED</c> before Akka reads a byte), the vault side owns exactly one, its parent's.
/// So there is no address to knock on: another process cannot open an association at all.
/// </summary>
internal sealed class LinkSockets : Setup
{
    private readonly ConcurrentDictionary<string, Socket> _outbound = new(StringComparer.Ordinal);
    private Socket? _inbound;

    /// <param name="localName">This system's host name in its link address (<c>akka.avlink://system@name:1</c>).</param>
    /// <param name="inbound">The vault side: the one socket to its parent, offered as an inbound association.</param>
    public LinkSockets(string localName, Socket? inbound = null)
    {
        LocalName = localName;
        _inbound = inbound;
    }

    public string LocalName { get; }

    /// <summary>The application side: <paramref name="socket"/> carries the association to the system at <paramref name="name"/>.</summary>
    public void Register(string name, Socket socket)
    {
        if (!_outbound.TryAdd(name, socket))
        {
            throw new InvalidOperationException($"A link socket named '{name}' is already registered.");
        }
    }

    /// <summary>Closes and forgets the socket registered as <paramref name="name"/>, if it was never used.</summary>
    public void Forget(string name)
    {
        if (_outbound.TryRemove(name, out Socket? socket))
        {
            socket.Dispose();
        }
    }

    internal Socket? TakeOutbound(string name) => _outbound.TryRemove(name, out Socket? socket) ? socket : null;

    internal Socket? TakeInbound() => Interlocked.Exchange(ref _inbound, null);

    /// <summary>The address of the system named <paramref name="system"/> on the link named <paramref name="name"/>.</summary>
    public static Address AddressOf(string system, string name) => new($"akka.{LinkSocketTransport.Scheme}", system, name, LinkSocketTransport.Port);
}

/// <summary>
/// An Akka.Remote transport over already-connected Unix stream sockets (see <see cref="LinkSockets"/>):
/// length-prefixed frames (4 bytes, big-endian) of at most <c>maximum-frame-size</c>; a larger or
/// empty length ends the association. Enabled as <c>akka.remote.enabled-transports =
/// ["akka.remote.actorvault-link"]</c> on the vault's and the link's systems.
/// </summary>
internal sealed class LinkSocketTransport : Akka.Remote.Transport.Transport
{
    public const string Scheme = "avlink";
    public const int Port = 1;

    private readonly LinkSockets _sockets;
    private readonly ConcurrentDictionary<LinkSocketHandle, byte> _handles = new();
    private Address? _localAddress;

    public LinkSocketTransport(ActorSystem system, Config config)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(config);
        System = system;
        Config = config;
        SchemeIdentifier = Scheme;
        MaximumPayloadBytes = config.GetByteSize("maximum-frame-size", 131072) ?? 131072;
        _sockets = system.Settings.Setup.Get<LinkSockets>().GetOrElse(null!)
            ?? throw new ConfigurationException("The actorvault-link transport needs a LinkSockets setup (ActorVault creates its systems with one).");
    }

    public override Task<(Address, TaskCompletionSource<IAssociationEventListener>)> Listen()
    {
        _localAddress = new Address(Scheme, System.Name, _sockets.LocalName, Port);
        var listener = new TaskCompletionSource<IAssociationEventListener>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (_sockets.TakeInbound() is { } inbound)
        {
            // The peer's real address arrives in Akka's handshake; this one only names the socket.
            var handle = Track(new LinkSocketHandle(inbound, _localAddress, new Address(Scheme, "parent", "parent", Port), (int)MaximumPayloadBytes, Untrack));
            handle.StartInbound(listener.Task);
        }

        return Task.FromResult((_localAddress, listener));
    }

    public override bool IsResponsibleFor(Address remote) => true;

    public override Task<AssociationHandle> Associate(Address remoteAddress)
    {
        ArgumentNullException.ThrowIfNull(remoteAddress);
        Socket? socket = remoteAddress.Host is { } host ? _sockets.TakeOutbound(host) : null;
        if (socket is null || _localAddress is null)
        {
            return Task.FromException<AssociationHandle>(new InvalidAssociationException($"No link socket leads to {remoteAddress} (the vault link has no listening address)."));
        }

        var handle = Track(new LinkSocketHandle(socket, _localAddress, remoteAddress, (int)MaximumPayloadBytes, Untrack));
        handle.StartOutbound();
        return Task.FromResult<AssociationHandle>(handle);
    }

    public override Task<bool> Shutdown()
    {
        foreach (LinkSocketHandle handle in _handles.Keys)
        {
            handle.Close();
        }

        return Task.FromResult(true);
    }

    private LinkSocketHandle Track(LinkSocketHandle handle)
    {
        _handles[handle] = 0;
        return handle;
    }

    private void Untrack(LinkSocketHandle handle) => _handles.TryRemove(handle, out _);
}

/// <summary>One association over one connected socket: a reader loop and a coalescing writer loop.</summary>
internal sealed class LinkSocketHandle : AssociationHandle
{
    private const int HeaderSize = 4;
    private const int ReadBufferSize = 64 * 1024;
    private const int WriteBatchBytes = 256 * 1024;

    /// <summary>Frames queued for the writer at most; more and <see cref="Write"/> says "not now" (Akka backs off and retries).</summary>
    private const int MaxQueuedFrames = 4096;

    private readonly Socket _socket;
    private readonly int _maxFrame;
    private readonly Action<LinkSocketHandle> _closed;
    private readonly Channel<byte[]> _writes = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(MaxQueuedFrames)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait,
    });

    private static readonly TimeSpan FlushOnClose = TimeSpan.FromSeconds(1);
    private readonly TaskCompletionSource _writerDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _closing;
    private int _socketClosed;

    public LinkSocketHandle(Socket socket, Address local, Address remote, int maxFrame, Action<LinkSocketHandle> closed)
        : base(local, remote)
    {
        _socket = socket;
        _maxFrame = maxFrame;
        _closed = closed;
        ReadHandlerSource = new TaskCompletionSource<IHandleEventListener>(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>The vault side: announce the association when the first frame arrives (so Akka's handshake timer starts only then).</summary>
    public void StartInbound(Task<IAssociationEventListener> listener)
    {
        _ = Task.Run(() => ReadLoopAsync(listener));
        _ = Task.Run(WriteLoopAsync);
    }

    public void StartOutbound()
    {
        _ = Task.Run(() => ReadLoopAsync(null));
        _ = Task.Run(WriteLoopAsync);
    }

    public override bool Write(ByteString payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        if (Volatile.Read(ref _closing) != 0 || payload.Length > _maxFrame)
        {
            return false;
        }

        byte[] frame = new byte[HeaderSize + payload.Length];
        BinaryPrimitives.WriteInt32BigEndian(frame, payload.Length);
        payload.Span.CopyTo(frame.AsSpan(HeaderSize));
        return _writes.Writer.TryWrite(frame);
    }

    [Obsolete("Use Disassociate(string, ILoggingAdapter).")]
    public override void Disassociate() => Close();

    /// <summary>
    /// Ends the association: frames already written (Akka's own goodbye among them) are flushed first,
    /// for at most <see cref="FlushOnClose"/>; then the socket is shut down.
    /// </summary>
    public void Close()
    {
        if (Interlocked.Exchange(ref _closing, 1) != 0)
        {
            return;
        }

        _writes.Writer.TryComplete();
        _ = Task.WhenAny(_writerDone.Task, Task.Delay(FlushOnClose)).ContinueWith(_ => CloseSocket(), TaskScheduler.Default);
    }

    private void CloseSocket()
    {
        if (Interlocked.Exchange(ref _socketClosed, 1) != 0)
        {
            return;
        }

        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // Already reset by the peer.
        }
        catch (ObjectDisposedException)
        {
        }

        _socket.Dispose();
        _closed(this);
    }

    private async Task ReadLoopAsync(Task<IAssociationEventListener>? inboundListener)
    {
        byte[] standard = new byte[ReadBufferSize];
        byte[] buffer = standard;
        int start = 0;
        int end = 0;
        IHandleEventListener? listener = null;
        try
        {
            while (true)
            {
                // One whole frame in the buffer (or, for a frame larger than the buffer, a buffer of its own).
                while (end - start >= HeaderSize)
                {
                    int length = BinaryPrimitives.ReadInt32BigEndian(buffer.AsSpan(start, HeaderSize));
                    if (length <= 0 || length > _maxFrame)
                    {
                        throw new InvalidDataException($"a frame of {length} bytes (allowed 1..{_maxFrame})");
                    }

                    if (end - start - HeaderSize < length)
                    {
                        break;
                    }

                    ByteString payload = ByteString.CopyFrom(buffer, start + HeaderSize, length);
                    start += HeaderSize + length;
                    if (listener is null)
                    {
                        if (inboundListener is not null)
                        {
                            (await inboundListener.ConfigureAwait(false)).Notify(new InboundAssociation(this));
                        }

                        listener = await ReadHandlerSource.Task.ConfigureAwait(false);
                    }

                    listener.Notify(new InboundPayload(payload));
                }

                if (start == end)
                {
                    start = end = 0;
                    buffer = standard;
                }
                else
                {
                    // The rest of an incomplete frame must fit after 'start': move it down, or into a buffer of its size.
                    int need = end - start >= HeaderSize ? HeaderSize + BinaryPrimitives.ReadInt32BigEndian(buffer.AsSpan(start, HeaderSize)) : HeaderSize;
                    if (buffer.Length - start < need)
                    {
                        byte[] target = need <= standard.Length ? standard : new byte[need];
                        Buffer.BlockCopy(buffer, start, target, 0, end - start);
                        buffer = target;
                        end -= start;
                        start = 0;
                    }
                }

                int read = await _socket.ReceiveAsync(buffer.AsMemory(end), SocketFlags.None).ConfigureAwait(false);
                if (read == 0)
                {
                    break; // the peer closed its end
                }

                end += read;
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidDataException or OperationCanceledException)
        {
            if (e is InvalidDataException && listener is not null)
            {
                listener.Notify(new UnderlyingTransportError(e, $"malformed frame on the vault link: {e.Message}"));
            }
        }

        bool wasOpen = Volatile.Read(ref _closing) == 0;
        Close();
        CloseSocket();
        if (wasOpen && listener is not null)
        {
            listener.Notify(new Disassociated(DisassociateInfo.Unknown));
        }
    }

    private async Task WriteLoopAsync()
    {
        byte[] batch = new byte[WriteBatchBytes];
        ChannelReader<byte[]> reader = _writes.Reader;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                int used = 0;
                while (reader.TryPeek(out byte[]? frame))
                {
                    if (frame.Length > batch.Length - used)
                    {
                        if (used == 0)
                        {
                            _ = reader.TryRead(out _);
                            await SendAllAsync(frame).ConfigureAwait(false);
                            continue;
                        }

                        break;
                    }

                    _ = reader.TryRead(out _);
                    frame.CopyTo(batch, used);
                    used += frame.Length;
                }

                if (used > 0)
                {
                    await SendAllAsync(batch.AsMemory(0, used)).ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            Close();
            CloseSocket();
        }
        finally
        {
            _writerDone.TrySetResult();
        }
    }

    private async Task SendAllAsync(ReadOnlyMemory<byte> data)
    {
        while (!data.IsEmpty)
        {
            int sent = await _socket.SendAsync(data, SocketFlags.None).ConfigureAwait(false);
            data = data[sent..];
        }
    }
}
