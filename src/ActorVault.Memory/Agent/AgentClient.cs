using System.Collections.Concurrent;
using ActorVault.Memory;

namespace ActorVault.Agent;

/// <summary>A request the host answered with <see cref="AgentKind.Failed"/> (or, on the host, one it refuses).</summary>
internal sealed class AgentRequestException : Exception
{
    public AgentRequestException(AgentError error, string message)
        : base(message) => Error = error;

    public AgentError Error { get; }
}

/// <summary>
/// A client of the standalone host's socket, without Akka: the CLI commands and
/// <c>StandaloneVaultClient</c>. Connecting checks, with the kernel's <c>SO_PEERCRED</c>, that the
/// listener runs as this user (or root): a socket someone else put at the path is refused before a byte
/// is sent. One thread receives; replies are matched to requests by id; revocation notices go to
/// <see cref="Revoked"/>.
/// </summary>
internal sealed class AgentClient : IDisposable
{
    private readonly AgentSocket _socket;
    private readonly ConcurrentDictionary<uint, TaskCompletionSource<AgentFrame>> _pending = new();
    private readonly Thread _reader;
    private readonly CancellationTokenSource _closed = new();
    private int _nextId;
    private volatile Exception? _failure;

    private AgentClient(AgentSocket socket, string path, int hostPid)
    {
        _socket = socket;
        SocketPath = path;
        HostPid = hostPid;
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = "actorvault-agent-client" };
        _reader.Start();
    }

    public string SocketPath { get; }

    /// <summary>The host's pid, as the kernel reports the listener.</summary>
    public int HostPid { get; }

    /// <summary>Lease <c>id</c> was revoked by the host (lock, vault loss, host stop); the string says why.</summary>
    public event Action<Guid, string>? Revoked;

    /// <summary>Cancelled when the connection ends (the host stopped or closed it).</summary>
    public CancellationToken Closed => _closed.Token;

    /// <summary>Connects to <paramref name="path"/> (default: <see cref="AgentPaths.ClientSocket"/>).</summary>
    public static AgentClient Connect(string? path = null)
    {
        string socketPath = AgentPaths.ClientSocket(path);
        AgentSocket socket = AgentSocket.Connect(socketPath);
        (int pid, uint uid) = socket.PeerCredentials();
        if (uid != SecretFiles.CurrentUserId && uid != 0)
        {
            socket.Dispose();
            throw new IOException($"Refusing the actorvault host at '{socketPath}': it runs as uid {uid}, not as this user ({SecretFiles.CurrentUserId}).");
        }

        return new AgentClient(socket, socketPath, pid);
    }

    /// <summary>Sends a request and waits for its reply frame (the caller disposes it). A <see cref="AgentKind.Failed"/> reply throws <see cref="AgentRequestException"/>.</summary>
    public async Task<AgentFrame> RequestAsync(AgentHeader request, SecretBuffer? secret, int passDescriptor, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        uint id = (uint)Interlocked.Increment(ref _nextId);
        var reply = new TaskCompletionSource<AgentFrame>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = reply;
        bool taken = false;
        try
        {
            ThrowIfClosed();
            Send(request with { RequestId = id }, secret, passDescriptor);
            AgentFrame frame;
            try
            {
                frame = await reply.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw new IOException($"The actorvault host (pid {HostPid}) did not answer within {timeout.TotalSeconds:0} s.");
            }

            taken = true;

            if (frame.Header.Kind == AgentKind.Failed)
            {
                using (frame)
                {
                    throw new AgentRequestException(frame.Header.Error ?? AgentError.Internal, frame.Header.Message ?? "The host refused the request.");
                }
            }

            return frame;
        }
        finally
        {
            // A reply that comes after the wait gave up is zeroed, by whichever side sees it last.
            if (_pending.TryRemove(id, out TaskCompletionSource<AgentFrame>? orphan) && !taken && !orphan.TrySetCanceled() && orphan.Task.IsCompletedSuccessfully)
            {
                orphan.Task.Result.Dispose();
            }
        }
    }

    /// <summary>A request whose reply carries no secret: returns its header.</summary>
    public async Task<AgentHeader> AskAsync(AgentHeader request, TimeSpan timeout, CancellationToken cancellationToken, SecretBuffer? secret = null, int passDescriptor = -1)
    {
        using AgentFrame frame = await RequestAsync(request, secret, passDescriptor, timeout, cancellationToken).ConfigureAwait(false);
        return frame.Header;
    }

    /// <summary>A message that is not answered (<see cref="AgentKind.Release"/>); ignored when the connection is gone.</summary>
    public void Tell(AgentHeader message)
    {
        try
        {
            Send(message, null, -1);
        }
        catch (IOException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public void Dispose()
    {
        _socket.Shutdown();
        if (Thread.CurrentThread != _reader)
        {
            _ = _reader.Join(TimeSpan.FromSeconds(5));
        }

        _socket.Dispose();
        _closed.Dispose();
    }

    private void Send(AgentHeader header, SecretBuffer? secret, int passDescriptor)
    {
        if (secret is null)
        {
            _socket.Send(header, default, passDescriptor);
            return;
        }

        using SecretBuffer.Scope scope = secret.Open();
        _socket.Send(header, scope.Bytes, passDescriptor);
    }

    private void ThrowIfClosed()
    {
        if (_failure is { } failure)
        {
            throw new IOException($"The connection to the actorvault host (pid {HostPid}) is closed: {failure.Message}", failure);
        }
    }

    private void ReadLoop()
    {
        Exception ended = new IOException("the host closed it");
        try
        {
            while (_socket.Receive() is { } frame)
            {
                if (frame.Header.Kind == AgentKind.Revoked)
                {
                    using (frame)
                    {
                        if (frame.Header.LeaseId is Guid lease)
                        {
                            Revoked?.Invoke(lease, frame.Header.Message ?? "revoked by the host");
                        }
                    }
                }
                else if (_pending.TryGetValue(frame.Header.RequestId, out TaskCompletionSource<AgentFrame>? waiter) && waiter.TrySetResult(frame))
                {
                    // Delivered; the requester owns it (and zeroes it if it stopped waiting).
                }
                else
                {
                    frame.Dispose();
                }
            }
        }
        catch (IOException e)
        {
            ended = e;
        }

        _failure = ended;
        foreach (TaskCompletionSource<AgentFrame> waiter in _pending.Values)
        {
            _ = waiter.TrySetException(new IOException($"The actorvault host (pid {HostPid}) closed the connection: {ended.Message}", ended));
        }

        try
        {
            _closed.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
