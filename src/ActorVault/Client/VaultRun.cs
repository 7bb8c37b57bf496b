using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using ActorVault.Protocol;
using ActorVault.Serialization;
using static ActorVault.Client.SupervisorProtocol;

namespace ActorVault.Client;

/// <summary>
/// One vault run (a child of <see cref="VaultSupervisor"/>, one per started process): checks the
/// READY address, identifies and greets the guardian, then carries the session's requests, their
/// timers, the heartbeat and the vault's notices. Everything it holds dies with it: the supervisor
/// stops it when its process exits or a stop is asked, and a failure of this actor stops it too (its
/// pending requests fail, the supervisor kills the process and starts a new run). Late answers of an
/// earlier run reach a dead actor, so nothing here filters by attempt or pid.
/// </summary>
internal sealed class VaultRun : ActorBase, IWithTimers
{
    private const string HeartbeatTimer = "heartbeat";

    private readonly SessionId _session;
    private readonly SupervisorSettings _settings;
    private readonly ClientSecretTracker _tracker;
    private readonly RunHandle _handle;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<Guid, Pending> _pending = [];
    private readonly HashSet<string> _secretNames = new(StringComparer.Ordinal);
    private readonly Logging.AuditThrottle _refusals = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    private IActorRef? _vault;
    private ActorPath? _readyPath;
    private string _guardianPath = string.Empty;
    private long _identifyId;
    private Guid _helloId;

    /// <summary>
    /// When the oldest heartbeat still without an answer was sent (-1: none). The vault is judged by
    /// the pings it left unanswered, never by this actor's own timer running late on a loaded machine.
    /// </summary>
    private long _oldestUnansweredPing = -1;
    private long _pingSequence;

    public VaultRun(SessionId session, SupervisorSettings settings, ClientSecretTracker tracker, RunHandle handle)
    {
        _session = session;
        _settings = settings;
        _tracker = tracker;
        _handle = handle;
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(SessionId session, SupervisorSettings settings, ClientSecretTracker tracker, RunHandle handle) =>
        Akka.Actor.Props.Create(() => new VaultRun(session, settings, tracker, handle));

    protected override bool Receive(object message) => Handshake(message);

    protected override void PostStop()
    {
        // Whatever ended the run (its process, a stop, a failure of this actor), nothing it held waits on.
        Exception failure = _handle.EndCause ?? new VaultUnavailableException("The vault connection ended; the vault restarts locked.", VaultState.Restarting);
        foreach (Pending pending in _pending.Values)
        {
            pending.ReplyTo.Tell(new Status.Failure(failure));
        }

        _pending.Clear();
    }

    private bool Handshake(object message)
    {
        switch (message)
        {
            case VaultProcessReady ready when _readyPath is null:
                _guardianPath = ready.GuardianPath;
                if (!ActorPath.TryParse(ready.GuardianPath, out ActorPath? path) || (path.Address.Host is not null && path.Address.Protocol != $"akka.{Transport.LinkSocketTransport.Scheme}") || path.ToStringWithoutAddress() != "/user/vault")
                {
                    Context.Parent.Tell(new RunFailed($"the vault link reported an invalid guardian address ({ready.GuardianPath})"));
                    return true;
                }

                _readyPath = path;
                // A random correlation id (a long: the primitive serializer carries it; a Guid would need JSON).
                _identifyId = Math.Abs(BitConverter.ToInt64(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8))) | 1;
                Context.ActorSelection(path).Tell(new Identify(_identifyId), Self);
                return true;
            case ActorIdentity identity when identity.MessageId is long id && id == _identifyId && _vault is null && _readyPath is not null:
                if (identity.Subject is null)
                {
                    Context.Parent.Tell(new RunFailed($"the vault printed READY ({_guardianPath}) but no guardian answers there (address unreachable)"));
                    return true;
                }

                // Only the actor at the READY address may become the vault: anyone on the link can send
                // an ActorIdentity to this actor, naming any reference.
                if (!identity.Subject.Path.Address.Equals(_readyPath.Address) || identity.Subject.Path.ToStringWithoutAddress() != "/user/vault")
                {
                    _log.Warning("Audit: ignored an identity naming {0}, not the vault at {1}.", identity.Subject.Path, _readyPath);
                    return true;
                }

                _vault = identity.Subject;
                _helloId = Guid.NewGuid();
                _vault.Tell(new VaultEnvelope(_session, new Hello(_helloId, Environment.ProcessId)), Self);
                return true;
            case VaultEnvelope { Body: Welcome welcome } envelope when envelope.Session == _session && welcome.RequestId == _helloId && _vault is not null:
                _oldestUnansweredPing = -1;
                Timers.StartPeriodicTimer(HeartbeatTimer, HeartbeatTick.Instance, _settings.HeartbeatInterval);
                Context.Become(Serving);
                Context.Parent.Tell(new RunReady(welcome));
                return true;
            default:
                return Common(message);
        }
    }

    private bool Serving(object message)
    {
        switch (message)
        {
            case Request request when _pending.Count >= _settings.MaxPendingRequests:
                Sender.Tell(new Status.Failure(new VaultOperationException(VaultError.Busy, $"{_settings.MaxPendingRequests} requests are already in flight.")));
                return true;
            case Request request:
                Send(request.Body, Sender, request.Interactive ? _settings.InteractiveTimeout : _settings.RequestTimeout);
                return true;
            case Notify notify:
                _vault!.Tell(new VaultEnvelope(_session, notify.Notice), Self);
                return true;
            case HeartbeatTick:
                Heartbeat();
                return true;
            case RequestTimedOut timedOut:
                if (_pending.Remove(timedOut.RequestId, out Pending? pending))
                {
                    pending.ReplyTo.Tell(new Status.Failure(new TimeoutException($"The vault did not answer {pending.Request.GetType().Name} within the timeout.")));
                }

                return true;
            case VaultEnvelope envelope when envelope.Session == _session:
                FromVault(envelope.Body);
                return true;
            default:
                return Common(message);
        }
    }

    /// <summary>What is handled the same way in both states: refusals, faults, strays.</summary>
    private bool Common(object message)
    {
        switch (message)
        {
            case VaultEnvelope envelope when envelope.Session == _session:
                _log.Debug("Dropped a vault message {0} before the handshake ended.", envelope.Body.GetType().Name);
                return true;
            case VaultEnvelope envelope:
                Audit("dropped an envelope of another session ({0}) from {1}", envelope.Session, Sender.Path);
                return true;
            case RejectedEnvelope rejected:
                Audit("refused an unauthenticated message from {0}: {1}", Sender.Path, Logging.LogRedaction.Escape(rejected.Reason));
                return true;
            case Refused refused:
                Audit("the vault refused a message from {0}: {1}", Sender.Path, Logging.LogRedaction.Escape(refused.Reason));
                return true;
            case InjectFault fault:
                throw new InvalidOperationException($"fault injected into the vault run: {fault.Reason}");
            case ActorIdentity or VaultProcessReady:
                return true; // a second READY or a stray identity: the first one counts
            default:
                return false;
        }
    }

    private void Audit(string format, object a, object b)
    {
        if (_refusals.Next(out long count))
        {
            _log.Warning("Audit: " + format + " ({2} refusals so far).", a, b, count);
        }
    }

    private void Send(IVaultRequest body, IActorRef replyTo, TimeSpan timeout)
    {
        Timers.StartSingleTimer(body.RequestId, new RequestTimedOut(body.RequestId), timeout);
        _pending[body.RequestId] = new Pending(replyTo, body);
        _vault!.Tell(new VaultEnvelope(_session, body), Self);
    }

    private void FromVault(IVaultProtocolMessage body)
    {
        switch (body)
        {
            case Pong pong when !_pending.ContainsKey(pong.RequestId):
                _oldestUnansweredPing = -1;
                return;
            case KeystoreReset reset:
                _secretNames.Clear();
                _tracker.EndAll(LeaseEnd.Revoked, $"the vault's keystore failed ({reset.Reason})");

                // Requests the failed keystore held are lost with it: fail them now rather than at their timeout.
                var lost = new VaultOperationException(VaultError.KeystoreUnavailable, $"The vault's keystore failed and was replaced ({reset.Reason}).");
                foreach ((Guid id, Pending pending) in _pending.Where(p => p.Value.Request is not (ReadSecret or Ping or RevokeLeases)).ToList())
                {
                    _pending.Remove(id);
                    Timers.Cancel(id);
                    pending.ReplyTo.Tell(new Status.Failure(lost));
                }

                Context.Parent.Tell(new RunStatus(Unlocked: false, reset.Keystore.PublicKey is { Length: > 0 } key ? key : null, $"keystore reset: {reset.Reason}", Force: true));
                return;
            case LeaseRevoked revoked:
                // Audited once, with its name and time held, when its callback is over (LeaseRunner).
                _ = _tracker.End(revoked.LeaseId, LeaseEnd.Revoked, revoked.Reason);
                return;
            case LeaseExpired expired:
                _ = _tracker.End(expired.LeaseId, LeaseEnd.Expired, "the vault's deadline passed");
                return;
            case IVaultReply reply when _pending.Remove(reply.RequestId, out Pending? pending):
                Timers.Cancel(reply.RequestId);
                _oldestUnansweredPing = -1;
                object answer = reply switch
                {
                    RequestFailed failed => new Status.Failure(VaultErrors.ToException(failed)),
                    LeaseGranted => new SessionStamped(_session, reply),
                    _ => reply,
                };

                // A reply that changes the state goes through the supervisor, which records the state
                // first: when the caller's await returns, VaultClient.State already shows it.
                if (Observe(reply) is { } status)
                {
                    Context.Parent.Tell(status with { ReplyTo = pending.ReplyTo, Answer = answer });
                }
                else
                {
                    pending.ReplyTo.Tell(answer);
                }

                return;
            default:
                _log.Debug("Dropped a late or unknown vault message {0}.", body.GetType().Name);
                return;
        }
    }

    /// <summary>What the supervisor must record of <paramref name="reply"/> (locked/unlocked, a new public key), if anything.</summary>
    private RunStatus? Observe(IVaultReply reply)
    {
        bool wasUnlocked = _secretNames.Count > 0;
        switch (reply)
        {
            case SecretStored stored:
                _secretNames.Add(stored.Name);
                break;
            case SecretLocked locked:
                _secretNames.Remove(locked.Name);
                break;
            case VaultStatusReply status:
                _secretNames.Clear();
                _secretNames.UnionWith(status.Secrets);
                break;
            case KeypairGenerated generated:
                return new RunStatus(_secretNames.Count > 0, generated.Keystore.PublicKey, $"new RSA-{generated.Keystore.KeyBits} keypair", Force: true);
            default:
                return null;
        }

        bool unlocked = _secretNames.Count > 0;
        return unlocked == wasUnlocked ? null : new RunStatus(unlocked, null, reply is SecretStored s ? $"secret '{s.Name}' stored" : "secrets changed", Force: false);
    }

    private void Heartbeat()
    {
        long now = _clock.ElapsedMilliseconds;
        long silent = _oldestUnansweredPing < 0 ? 0 : now - _oldestUnansweredPing;
        if (silent > _settings.UnresponsiveAfter.TotalMilliseconds)
        {
            Timers.Cancel(HeartbeatTimer);
            Context.Parent.Tell(new RunUnresponsive($"no answer to heartbeats for {silent} ms"));
            return;
        }

        _vault!.Tell(new VaultEnvelope(_session, new Ping(Guid.NewGuid(), ++_pingSequence)), Self);
        if (_oldestUnansweredPing < 0)
        {
            _oldestUnansweredPing = now;
        }
    }

    private sealed record Pending(IActorRef ReplyTo, IVaultRequest Request);
}

/// <summary>
/// What the supervisor tells a run that it ends: the failure its pending requests get. Written by the
/// supervisor (or its strategy) before the run is stopped, read in the run's PostStop.
/// </summary>
internal sealed class RunHandle
{
    private Exception? _endCause;

    public Exception? EndCause
    {
        get => Volatile.Read(ref _endCause);
        set => Volatile.Write(ref _endCause, value);
    }

    /// <summary>Sets the cause unless one is set already (the first cause is the true one).</summary>
    public void EndWith(Exception cause) => Interlocked.CompareExchange(ref _endCause, cause, null);
}
