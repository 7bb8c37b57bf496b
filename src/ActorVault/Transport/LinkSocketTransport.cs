using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
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

    /// <summary>Closes every socket that was registered but never carried an association (shutdown).</summary>
    internal void DisposeUnused()
    {
        foreach (string name in _outbound.Keys)
        {
            Forget(name);
        }

        TakeInbound()?.Dispose();
    }

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
    private readonly int _maxFrame;
    private readonly ConcurrentDictionary<LinkSocketHandle, byte> _handles = new();
    private Address? _localAddress;

    public LinkSocketTransport(ActorSystem system, Config config)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(config);
        System = system;
        Config = config;
        SchemeIdentifier = Scheme;
        _maxFrame = (int)(config.GetByteSize("maximum-frame-size") ?? throw new ConfigurationException("akka.remote.actorvault-link.maximum-frame-size is missing (set in code by ActorVaultConfig)."));
        // Akka checks a message against this before its protocol layer wraps it (a few bytes more):
        // headroom, so that a message Akka lets through always fits a frame (never a stuck write).
        MaximumPayloadBytes = _maxFrame - 1024;
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
            var handle = Track(new LinkSocketHandle(inbound, _localAddress, new Address(Scheme, "parent", "parent", Port), _maxFrame, Untrack));
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

        var handle = Track(new LinkSocketHandle(socket, _localAddress, remoteAddress, _maxFrame, Untrack));
        handle.StartOutbound();
        return Task.FromResult<AssociationHandle>(handle);
    }

    public override Task<bool> Shutdown()
    {
        foreach (LinkSocketHandle handle in _handles.Keys)
        {
            handle.Close();
        }

        _sockets.DisposeUnused();
        return Task.FromResult(true);
    }

    private LinkSocketHandle Track(LinkSocketHandle handle)
    {
        _handles[handle] = 0;
        return handle;
    }

    private void Untrack(LinkSocketHandle handle) => _handles.TryRemove(handle, out _);
}

/// <summary>
/// One association over one connected socket: a reader thread and a coalescing writer thread of its
/// own (blocking calls, no thread-pool hops on the lease path; one link per vault, so two threads).
/// </summary>
internal sealed class LinkSocketHandle : AssociationHandle
{
    private const int HeaderSize = 4;
    private const int ReadBufferSize = 64 * 1024;
    private const int WriteBatchBytes = 256 * 1024;

    /// <summary>Bytes queued for the writer at most; more and <see cref="Write"/> says "not now" (Akka backs off and retries).</summary>
    private const int MaxPendingBytes = 4 * 1024 * 1024;

    private static readonly TimeSpan FlushOnClose = TimeSpan.FromSeconds(1);

    private readonly Socket _socket;
    private readonly int _maxFrame;
    private readonly Action<LinkSocketHandle> _closed;
    private readonly object _gate = new(); // Monitor.Wait/Pulse: the writer sleeps on it
    private readonly ManualResetEventSlim _writerDone = new(false);

    // Double-buffered writes: Write appends frames to _pending under _gate; the writer swaps it with
    // _spare and sends the whole batch outside the lock. No allocation per frame.
    private byte[] _pending = new byte[WriteBatchBytes];
    private byte[] _spare = new byte[WriteBatchBytes];
    private int _pendingUsed;
    private bool _writing;
    private int _closing;
    private int _closedByAkka;
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
    public void StartInbound(Task<IAssociationEventListener> listener) => Start(listener);

    public void StartOutbound() => Start(null);

    private void Start(Task<IAssociationEventListener>? inboundListener)
    {
        new Thread(() => ReadLoop(inboundListener)) { IsBackground = true, Name = "actorvault-link-read" }.Start();
        new Thread(WriteLoop) { IsBackground = true, Name = "actorvault-link-write" }.Start();
    }

    public override bool Write(ByteString payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        if (payload.Length > _maxFrame)
        {
            return false;
        }

        int need = HeaderSize + payload.Length;
        lock (_gate)
        {
            if (Volatile.Read(ref _closing) != 0)
            {
                return false;
            }

            if (_pendingUsed + need > _pending.Length)
            {
                if (_pendingUsed + need > MaxPendingBytes)
                {
                    return false;
                }

                Array.Resize(ref _pending, Math.Min(MaxPendingBytes, Math.Max(_pending.Length * 2, _pendingUsed + need)));
            }

            BinaryPrimitives.WriteInt32BigEndian(_pending.AsSpan(_pendingUsed), payload.Length);
            payload.Span.CopyTo(_pending.AsSpan(_pendingUsed + HeaderSize));
            _pendingUsed += need;
            if (!_writing)
            {
                Monitor.Pulse(_gate);
            }
        }

        return true;
    }

    [Obsolete("Use Disassociate(string, ILoggingAdapter).")]
    public override void Disassociate()
    {
        // Akka asked: it expects no Disassociated event back (a failure of the socket sends one).
        Volatile.Write(ref _closedByAkka, 1);
        Close();
    }

    /// <summary>
    /// Ends the association: frames already written (Akka's own goodbye among them) are flushed first,
    /// for at most <see cref="FlushOnClose"/>; then the socket is shut down.
    /// </summary>
    public void Close()
    {
        lock (_gate)
        {
            if (Interlocked.Exchange(ref _closing, 1) != 0)
            {
                return;
            }

            Monitor.PulseAll(_gate);
        }

        _ = Task.Run(() =>
        {
            _ = _writerDone.Wait(FlushOnClose);
            CloseSocket();
        });
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

    private void ReadLoop(Task<IAssociationEventListener>? inboundListener)
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
                // Every whole frame in the buffer; a frame larger than the buffer gets a buffer of its own.
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
                        inboundListener?.GetAwaiter().GetResult().Notify(new InboundAssociation(this));
                        listener = ReadHandlerSource.Task.GetAwaiter().GetResult();
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

                int read = _socket.Receive(buffer.AsSpan(end), SocketFlags.None);
                if (read == 0)
                {
                    break; // the peer closed its end
                }

                end += read;
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidDataException)
        {
            if (e is InvalidDataException && listener is not null)
            {
                listener.Notify(new UnderlyingTransportError(e, $"malformed frame on the vault link: {e.Message}"));
            }
        }

        Close();
        CloseSocket();
        if (Volatile.Read(ref _closedByAkka) == 0 && listener is not null)
        {
            listener.Notify(new Disassociated(DisassociateInfo.Unknown));
        }
    }

    private void WriteLoop()
    {
        try
        {
            while (true)
            {
                byte[] batch;
                int used;
                lock (_gate)
                {
                    while (_pendingUsed == 0)
                    {
                        if (Volatile.Read(ref _closing) != 0)
                        {
                            return;
                        }

                        _writing = false;
                        Monitor.Wait(_gate);
                    }

                    _writing = true;
                    batch = _pending;
                    used = _pendingUsed;
                    _pending = _spare;
                    _pendingUsed = 0;
                    _spare = batch;
                }

                SendAll(batch.AsSpan(0, used));
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            Close();
            CloseSocket();
        }
        finally
        {
            _writerDone.Set();
        }
    }

    private void SendAll(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            data = data[_socket.Send(data, SocketFlags.None)..];
        }
    }
}
