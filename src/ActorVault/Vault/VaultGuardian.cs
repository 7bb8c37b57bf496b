using ActorVault.Agent;
using System.Security.Cryptography;
using Akka.Actor;
using Akka.Event;
using ActorVault.Protocol;
using ActorVault.Serialization;

namespace ActorVault.Vault;

/// <summary>
/// Root of the vault's actors (<c>/user/vault</c>, the only path reachable by remote selection).
/// Serves only envelopes of its own session: an envelope reaches it only if it authenticated under the
/// session key (AES-256-GCM tag, checked in constant time by <see cref="EnvelopeSerializer"/>) and was
/// not a replay. Anything else (a rejected frame, another session, a bare message) gets
/// <see cref="Refused"/> and an audit line. Children that fail are stopped (their PostStop zeroes what
/// they hold) and replaced empty, never restarted with state. If the guardian itself fails, it restarts
/// with the same session and client (<see cref="GuardianLedger"/>); its actors are replaced empty and the
/// application hears of it (<see cref="KeystoreReset"/>) instead of being refused until its heartbeat gives up.
/// </summary>
internal sealed class VaultGuardian : ReceiveActor, IWithTimers
{
    public const string Name = "vault";

    private readonly SessionId _session;
    private readonly VaultSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private IActorRef _keystore = ActorRefs.Nobody;
    private IActorRef _reader = ActorRefs.Nobody;
    private IActorRef _leases = ActorRefs.Nobody;
    private readonly GuardianLedger _ledger;
    private int _keystoreGeneration;
    private int _keystoreFailures;
    private long _keystoreStartedAt;
    private long _refusals;

    public VaultGuardian(SessionId session, VaultSettings settings, GuardianLedger ledger)
    {
        _ledger = ledger;
        _session = session;
        _settings = settings;

        Receive<VaultEnvelope>(e => e.Session == _session, Serve);
        Receive<VaultEnvelope>(e => Refuse($"envelope of another session ({e.Session})"));
        Receive<RejectedEnvelope>(r => Refuse($"{r.Reason}{(r.SessionHint.Length > 0 ? $" (session {r.SessionHint})" : string.Empty)}"));
        Receive<StoreReadSecret>(m => ToKeystore(m));
        Receive<DeadLetter>(d => d.Message is StoreReadSecret, d => Lost((StoreReadSecret)d.Message));
        Receive<RecreateKeystore>(_ => _keystore = StartKeystore(Client));
        Receive<Terminated>(t => ChildStopped(t.ActorRef));
        // A refusal is never answered: two refusing actors (or one, given itself as the sender) must not bounce.
        Receive<Refused>(_ => _refusals++);
        Receive<InjectGuardianFault>(f => throw new InvalidOperationException($"fault injected into the vault guardian: {f.Reason}"));
        ReceiveAny(m => Refuse($"unexpected {m.GetType().Name}"));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>The ledger is made here, once: every incarnation of the guardian shares it.</summary>
    public static Props Props(SessionId session, VaultSettings settings, Task<RSA>? initialKey = null)
    {
        var ledger = new GuardianLedger(initialKey);
        return Akka.Actor.Props.Create(() => new VaultGuardian(session, settings, ledger));
    }

    private IActorRef? Client => _ledger.Client;

    /// <summary>
    /// Any failure of a child holding secret material: stop it (PostStop zeroes), never restart with state.
    /// A <see cref="Kill"/> can only come from outside (ActorVault never sends one), so it is ignored.
    /// </summary>
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(e =>
        {
            if (e is ActorKilledException)
            {
                _log.Warning("Audit: ignored a Kill sent to a vault actor from outside.");
                return Directive.Resume;
            }

            _log.Error(e, "A vault actor failed ({0}); stopping it, its secret buffers are zeroed.", e.GetType().Name);
            return Directive.Stop;
        });

    /// <summary>
    /// Also after a failure of the guardian itself: Akka stopped its children (their PostStop zeroed
    /// every secret; a keystore after a fault is not trusted with them), and the fresh keystore tells
    /// the application, which this incarnation still knows (<see cref="GuardianLedger"/>).
    /// </summary>
    protected override void PreStart()
    {
        _keystore = StartKeystore(Client);
        _reader = Context.Watch(Context.ActorOf(PasswordReaderActor.Props(_session), "password-reader"));
        _leases = Context.Watch(Context.ActorOf(LeaseActor.Props(_session, _settings.Leases), "leases"));
        Context.System.EventStream.Subscribe(Self, typeof(DeadLetter));
    }

    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
        BlockingReads.For(Context.System).CancelAll();
    }

    private IActorRef StartKeystore(IActorRef? announceTo = null)
    {
        _keystoreStartedAt = Environment.TickCount64;
        return Context.Watch(Context.ActorOf(KeystoreActor.Props(_session, _settings, announceTo, _ledger.TakeInitialKey()), $"keystore-{++_keystoreGeneration}"));
    }

    private void Serve(VaultEnvelope envelope)
    {
        IActorRef? client = Client;
        if (envelope.Body is LeaseReleased released && client is not null)
        {
            _leases.Tell(new LeaseCommand(released, client, _keystore));
            return;
        }

        if (envelope.Body is not IVaultRequest request)
        {
            Refuse($"{envelope.Body.GetType().Name} is not a request");
            return;
        }

        if (client is null)
        {
            if (request is not Hello)
            {
                Refuse($"{request.GetType().Name} before Hello");
                return;
            }

            // The first authenticated Hello names the application; every answer goes to it, whoever
            // relays a frame (a sealed frame is proof of the key, not of the sender).
            client = _ledger.Client = Sender;
            _log.Info("Audit: application {0} connected to the vault.", Sender.Path);
        }

        switch (request)
        {
            case Ping ping:
                client.Tell(new VaultEnvelope(_session, new Pong(ping.RequestId, ping.Sequence)));
                break;
            case ReadSecret:
                _reader.Tell(new Routed(request, client));
                break;
            case AcquireLease or RevokeLeases when _keystore.IsNobody():
                ToKeystore(new Routed(request, client));
                break;
            case AcquireLease or RevokeLeases:
                _leases.Tell(new LeaseCommand(request, client, _keystore));
                break;
            case LockSecret when !_keystore.IsNobody():
                // Through the lease actor: it revokes the secret's leases, then hands the lock to the
                // keystore, so the application hears of the revocations before the lock's answer.
                _leases.Tell(new LeaseCommand(request, client, _keystore));
                break;
            default:
                ToKeystore(new Routed(request, client));
                break;
        }
    }

    private void ToKeystore(object message)
    {
        if (!_keystore.IsNobody())
        {
            _keystore.Tell(message, Self);
            return;
        }

        switch (message)
        {
            case StoreReadSecret store:
                Lost(store);
                break;
            case Routed routed:
                routed.ReplyTo.Tell(new VaultEnvelope(_session, new RequestFailed(routed.Request.RequestId, VaultErrorCode.KeystoreUnavailable, "The vault's keystore is being replaced after a failure; try again shortly.", 0)));
                break;
        }
    }

    /// <summary>A read secret that no keystore took: zero it and say so.</summary>
    private void Lost(StoreReadSecret store)
    {
        store.Secret.Dispose();
        _log.Warning("Audit: secret {0} was read but no keystore could take it; zeroed.", SecretNames.Describe(store.Name));
        store.ReplyTo.Tell(new VaultEnvelope(_session, new RequestFailed(store.RequestId, VaultErrorCode.KeystoreUnavailable, $"Secret {SecretNames.Describe(store.Name)} was read, but the keystore failed before storing it; it was zeroed. Enter it again.", 0)));
    }

    private void Refuse(string reason)
    {
        long count = ++_refusals;
        if (count <= 20 || count % 1000 == 0)
        {
            // Rate-limited: a flood of refused messages must not become a flood of log lines.
            _log.Warning("Audit: refused a message from {0}: {1} (refusal #{2}{3}).", Sender.Path, reason, count, count == 20 ? "; further refusals are logged every 1,000th" : string.Empty);
        }

        if (RefusalPolicy.MayAnswer(Sender, Self, Context.System))
        {
            Sender.Tell(new Refused("not authenticated for this vault"));
        }
    }

    private void ChildStopped(IActorRef child)
    {
        if (child.Equals(_keystore))
        {
            // A keystore that keeps failing (say, key generation) is re-created with backoff, not in a loop.
            _keystoreFailures = Environment.TickCount64 - _keystoreStartedAt > 30_000 ? 1 : _keystoreFailures + 1;
            TimeSpan delay = _keystoreFailures <= 1 ? TimeSpan.Zero : TimeSpan.FromMilliseconds(Math.Min(30_000, 500 * Math.Pow(2, _keystoreFailures - 2)));
            _keystore = ActorRefs.Nobody;
            _log.Warning("The keystore stopped; a new, empty keystore takes its place in {0} ms. Every secret must be set again.", (long)delay.TotalMilliseconds);
            if (delay == TimeSpan.Zero)
            {
                // The new keystore tells the application itself, with its new public key, once it has one.
                _keystore = StartKeystore(Client);
            }
            else
            {
                Timers.StartSingleTimer("recreate-keystore", RecreateKeystore.Instance, delay);
            }
        }
        else if (child.Equals(_leases))
        {
            _leases = Context.Watch(Context.ActorOf(LeaseActor.Props(_session, _settings.Leases), $"leases-{Guid.NewGuid():N}"));
            _log.Warning("The lease actor stopped; a new one took its place (earlier leases expire in the application at their deadline).");
        }
        else if (child.Equals(_reader))
        {
            _reader = Context.Watch(Context.ActorOf(PasswordReaderActor.Props(_session), $"password-reader-{Guid.NewGuid():N}"));
            _log.Warning("The password reader stopped; a new one took its place.");
        }
    }
}

/// <summary>Timer message of the guardian: start a fresh keystore after a backoff.</summary>
internal sealed class RecreateKeystore
{
    public static readonly RecreateKeystore Instance = new();

    private RecreateKeystore()
    {
    }
}

/// <summary>Fault injection (tests, in-process only: no serializer of the link carries this type): the guardian throws.</summary>
internal sealed record InjectGuardianFault(string Reason);

/// <summary>
/// What outlives one incarnation of <see cref="VaultGuardian"/>: the application it serves (the first
/// authenticated Hello's sender) and the initial key task (taken once, by the first keystore).
/// </summary>
internal sealed class GuardianLedger(Task<RSA>? initialKey)
{
    private Task<RSA>? _initialKey = initialKey;
    private IActorRef? _client;

    public IActorRef? Client
    {
        get => Volatile.Read(ref _client);
        set => Volatile.Write(ref _client, value);
    }

    public Task<RSA>? TakeInitialKey() => Interlocked.Exchange(ref _initialKey, null);
}
