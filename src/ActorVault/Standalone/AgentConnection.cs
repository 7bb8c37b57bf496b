using System.Collections.Concurrent;
using System.Globalization;
using Akka.Actor;
using ActorVault.Agent;
using ActorVault.Memory;
using ActorVault.Memory.Readers;

namespace ActorVault.Standalone;

/// <summary>
/// One client connection of the standalone host. A thread of its own receives frames (the secret part of
/// an unlock straight into secret memory, a passed pipe as a descriptor) and tells them to this actor;
/// each request runs as a task and writes its own reply. Leases are taken from the host's vault and
/// written to the client (or into its pipe) from the lease's bytes, inside the lease: the host keeps no
/// copy. The client's leases are remembered (id, name, deadline) so a lock or a lost vault revokes them.
/// Stopping closes the socket; a malformed frame stops the connection.
/// </summary>
internal sealed class AgentConnection : ReceiveActor
{
    /// <summary>Requests of one connection in progress at once; more are answered Busy.</summary>
    private const int MaxInFlight = 16;

    /// <summary>How long the host holds its own lease while it writes to the client.</summary>
    private static readonly TimeSpan WriteLease = AgentSocket.FrameTimeout + TimeSpan.FromSeconds(5);

    private readonly HostContext _host;
    private readonly AgentSocket _socket;
    private readonly int _pid;
    private readonly ConcurrentDictionary<Guid, ClientLease> _leases = new();
    private Thread? _reader;
    private int _inFlight;

    public AgentConnection(HostContext host, AgentSocket socket, int pid)
    {
        _host = host;
        _socket = socket;
        _pid = pid;
        Receive<AgentFrame>(OnFrame);
        Receive<RequestDone>(_ => _inFlight--);
        Receive<RevokeClientLeases>(Revoke);
        Receive<Closed>(c =>
        {
            if (c.Problem is { } problem)
            {
                _host.Refusal($"closed client pid {_pid}: {problem}");
            }

            Context.Stop(Self);
        });
    }

    public static Props Props(HostContext host, AgentSocket socket, int pid) =>
        Akka.Actor.Props.Create(() => new AgentConnection(host, socket, pid));

    protected override void PreStart()
    {
        IActorRef self = Self;
        _reader = new Thread(() => ReadLoop(self)) { IsBackground = true, Name = "actorvault-agent-connection" };
        _reader.Start();
    }

    protected override void PostStop()
    {
        // The reader sees end of input and exits; requests still running fail their send and end.
        _socket.Shutdown();
        _reader?.Join(TimeSpan.FromSeconds(2));
        _socket.Dispose();
        foreach (ClientLease lease in _leases.Values)
        {
            _host.Audit($"lease {lease.Id} of '{lease.Name}' to client pid {_pid} ended: connection closed");
        }

        _leases.Clear();
    }

    private void ReadLoop(IActorRef self)
    {
        string? problem = null;
        try
        {
            while (_socket.Receive() is { } frame)
            {
                self.Tell(frame);
            }
        }
        catch (IOException e)
        {
            problem = e.Message;
        }

        self.Tell(new Closed(problem));
    }

    private void OnFrame(AgentFrame frame)
    {
        AgentHeader request = frame.Header;
        if (request.Kind >= AgentKind.Ok)
        {
            frame.Dispose();
            Self.Tell(new Closed($"sent a {request.Kind} frame, which only the host sends"));
            return;
        }

        if (request.Kind == AgentKind.Release)
        {
            frame.Dispose();
            if (request.LeaseId is Guid id && _leases.TryRemove(id, out ClientLease? lease))
            {
                _host.Audit($"lease {id} of '{lease.Name}' to client pid {_pid} released after {(DateTimeOffset.UtcNow - lease.Granted).TotalMilliseconds:0} ms");
            }

            return;
        }

        if (_inFlight >= MaxInFlight)
        {
            frame.Dispose();
            Reply(request, Failure(AgentError.Busy, $"This connection has {MaxInFlight} requests in progress already."));
            return;
        }

        _inFlight++;
        IActorRef self = Self;
        _ = Task.Run(async () =>
        {
            try
            {
                await HandleAsync(frame).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                // The client is gone or does not read: the connection ends.
                self.Tell(new Closed(e.Message));
            }
            finally
            {
                frame.Dispose();
                self.Tell(RequestDone.Instance);
            }
        });
    }

    private async Task HandleAsync(AgentFrame frame)
    {
        AgentHeader request = frame.Header;
        try
        {
            switch (request.Kind)
            {
                case AgentKind.Status:
                    Reply(request, new AgentHeader(AgentKind.Ok, request.RequestId) { Status = await _host.StatusAsync(_leases.Count).ConfigureAwait(false) });
                    break;
                case AgentKind.Lease:
                    await LeaseAsync(request).ConfigureAwait(false);
                    break;
                case AgentKind.WriteTo:
                    await WriteToAsync(request, frame).ConfigureAwait(false);
                    break;
                case AgentKind.Unlock:
                    string name = Name(request);
                    SecretBuffer secret = frame.TakeSecret() ?? throw new SecretInputException(SecretInputError.Empty, "The secret to unlock with is empty.");
                    int length = secret.Length;
                    TimeSpan? lifetime = request.TtlMs is long ms ? TimeSpan.FromMilliseconds(ms) : null;
                    if (lifetime is { } l && (l < TimeSpan.FromSeconds(1) || l > TimeSpan.FromDays(365)))
                    {
                        secret.Dispose();
                        throw new AgentRequestException(AgentError.BadRequest, "A secret's lifetime is 1 s to 365 days.");
                    }

                    await _host.Vault.SetSecretAsync(name, secret).ConfigureAwait(false);
                    _host.Lifetimes.Tell(new SecretLifetimes.Set(name, lifetime));
                    _host.Event($"secret '{name}' set by client pid {_pid} ({length} bytes{(lifetime is null ? string.Empty : $", lifetime {lifetime.Value.TotalSeconds:0} s")})");
                    Reply(request, new AgentHeader(AgentKind.Ok, request.RequestId) { Name = name, Length = length });
                    break;
                case AgentKind.Lock:
                    string locked = Name(request);
                    bool existed = await _host.Vault.LockSecretAsync(locked).ConfigureAwait(false);
                    _host.Agent.Tell(new RevokeClientLeases(locked, $"secret '{locked}' locked by client pid {_pid}"));
                    _host.Lifetimes.Tell(new SecretLifetimes.Dropped(locked));
                    _host.Event(existed ? $"secret '{locked}' locked by client pid {_pid}" : $"client pid {_pid} locked '{locked}', which was not set");
                    Reply(request, new AgentHeader(AgentKind.Ok, request.RequestId) { Name = locked, Existed = existed });
                    break;
                case AgentKind.Stop:
                    _host.Event($"stop requested by client pid {_pid}");
                    Reply(request, new AgentHeader(AgentKind.Ok, request.RequestId) { Pid = Environment.ProcessId });
                    _host.Stop();
                    break;
                default:
                    Reply(request, Failure(AgentError.BadRequest, $"{request.Kind} is not a request."));
                    break;
            }
        }
        catch (Exception e) when (e is not IOException)
        {
            Reply(request, Failed(request.RequestId, e));
        }
    }

    private async Task LeaseAsync(AgentHeader request)
    {
        string name = Name(request);
        TimeSpan ttl = Ttl(request);
        Guid id = Guid.NewGuid();
        var lease = new ClientLease(id, name, DateTimeOffset.UtcNow, ttl);
        _ = await _host.Vault.WithSecretAsync(
            name,
            bytes =>
            {
                // Remembered before the bytes leave, so a lock from now on revokes it.
                _leases[id] = lease;
                _socket.Send(new AgentHeader(AgentKind.Granted, request.RequestId) { LeaseId = id, Name = name, TtlMs = (long)ttl.TotalMilliseconds }, bytes);
                return true;
            },
            new LeaseOptions { Ttl = WriteLease }).ConfigureAwait(false);
        _host.Granted();
        _host.Lifetimes.Tell(new SecretLifetimes.Used(name));
        _host.Audit($"lease {id} of '{name}' to client pid {_pid} for {ttl.TotalMilliseconds:0} ms; the host's copy is zeroed");
        // Forgotten at its deadline (the client zeroes it then, whatever it is doing).
        _ = Task.Delay(ttl).ContinueWith(_ => _leases.TryRemove(id, out ClientLease? _), TaskScheduler.Default);
    }

    private async Task WriteToAsync(AgentHeader request, AgentFrame frame)
    {
        string name = Name(request);
        int fd = frame.TakeDescriptor();
        if (fd < 0)
        {
            throw new AgentRequestException(AgentError.BadRequest, "WriteTo needs a pipe passed with the request.");
        }

        try
        {
            int length = await _host.Vault.WithSecretAsync(
                name,
                bytes =>
                {
                    AgentPipes.WriteAll(fd, bytes, AgentSocket.FrameTimeout);
                    return bytes.Length;
                },
                new LeaseOptions { Ttl = WriteLease }).ConfigureAwait(false);
            AgentPipes.Close(ref fd);
            _host.Granted();
            _host.Lifetimes.Tell(new SecretLifetimes.Used(name));
            string command = string.IsNullOrEmpty(request.Message) ? "a command" : $"'{LogSafe(request.Message)}'";
            _host.Event($"client pid {_pid} exec {command}: {length} bytes of '{name}' written to its pipe; the host's copy is zeroed");
            Reply(request, new AgentHeader(AgentKind.Ok, request.RequestId) { Name = name, Length = length });
        }
        finally
        {
            AgentPipes.Close(ref fd);
        }
    }

    private void Revoke(RevokeClientLeases revoke)
    {
        foreach (ClientLease lease in _leases.Values.Where(l => revoke.Name is null || l.Name == revoke.Name).ToList())
        {
            if (_leases.TryRemove(lease.Id, out _))
            {
                _host.Audit($"lease {lease.Id} of '{lease.Name}' to client pid {_pid} revoked: {revoke.Reason}");
                try
                {
                    _socket.Send(new AgentHeader(AgentKind.Revoked, 0) { LeaseId = lease.Id, Message = revoke.Reason });
                }
                catch (IOException)
                {
                    Self.Tell(new Closed(null));
                }
            }
        }
    }

    private void Reply(AgentHeader request, AgentHeader reply)
    {
        _socket.Send(reply with { RequestId = request.RequestId });
    }

    private TimeSpan Ttl(AgentHeader request)
    {
        TimeSpan max = _host.Settings.MaxLeaseTtl;
        return request.TtlMs switch
        {
            null => _host.Settings.LeaseTtl,
            <= 0 => throw new AgentRequestException(AgentError.BadRequest, $"A lease lasts 1 ms to {max.TotalSeconds:0} s, not {request.TtlMs} ms."),
            // The host caps a client's lease; the reply says what was granted.
            long ms => TimeSpan.FromMilliseconds(Math.Min(ms, (long)max.TotalMilliseconds)),
        };
    }

    private static string Name(AgentHeader request) =>
        SecretNames.IsValid(request.Name)
            ? request.Name!
            : throw new AgentRequestException(AgentError.BadRequest, $"Secret name {SecretNames.Describe(request.Name)} is invalid: use 1–{SecretNames.MaxLength} characters of A–Z, a–z, 0–9, '.', '_', '-'.");

    private static string LogSafe(string text) => Logging.LogRedaction.Escape(text.Length > 64 ? text[..64] : text);

    private static AgentHeader Failure(AgentError error, string message) => new(AgentKind.Failed, 0) { Error = error, Message = message };

    private static AgentHeader Failed(uint requestId, Exception e) => (e switch
    {
        AgentRequestException a => Failure(a.Error, a.Message),
        SecretLockedException => Failure(AgentError.Locked, e.Message),
        LeaseCapacityException => Failure(AgentError.Busy, e.Message),
        SecretInputException => Failure(AgentError.SecretInput, e.Message),
        SecretUnavailableException => Failure(AgentError.Locked, e.Message),
        VaultOperationException => Failure(AgentError.BadRequest, e.Message),
        VaultUnavailableException or LeaseExpiredException or LeaseRevokedException => Failure(AgentError.Unavailable, e.Message),
        ArgumentException => Failure(AgentError.BadRequest, e.Message),
        _ => Failure(AgentError.Internal, string.Create(CultureInfo.InvariantCulture, $"The host failed ({e.GetType().Name}).")),
    }) with { RequestId = requestId };

    private sealed record ClientLease(Guid Id, string Name, DateTimeOffset Granted, TimeSpan Ttl);

    private sealed record Closed(string? Problem);

    private sealed class RequestDone
    {
        public static readonly RequestDone Instance = new();
    }
}
