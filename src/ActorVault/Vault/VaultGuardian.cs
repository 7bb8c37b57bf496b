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
/// they hold) and replaced empty, never restarted with state.
/// </summary>
internal sealed class VaultGuardian : ReceiveActor
{
    public const string Name = "vault";

    private readonly SessionId _session;
    private readonly VaultSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private IActorRef _keystore = ActorRefs.Nobody;
    private IActorRef _reader = ActorRefs.Nobody;
    private IActorRef? _client;
    private int _keystoreGeneration;
    private long _refusals;

    public VaultGuardian(SessionId session, VaultSettings settings)
    {
        _session = session;
        _settings = settings;

        Receive<VaultEnvelope>(e => e.Session == _session, Serve);
        Receive<VaultEnvelope>(e => Refuse($"envelope of another session ({e.Session})"));
        Receive<RejectedEnvelope>(r => Refuse($"{r.Reason}{(r.SessionHint.Length > 0 ? $" (session {r.SessionHint})" : string.Empty)}"));
        Receive<StoreReadSecret>(m => _keystore.Forward(m));
        Receive<Terminated>(t => ChildStopped(t.ActorRef));
        ReceiveAny(m => Refuse($"unexpected {m.GetType().Name}"));
    }

    public static Props Props(SessionId session, VaultSettings settings) =>
        Akka.Actor.Props.Create(() => new VaultGuardian(session, settings));

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

    protected override void PreStart()
    {
        _keystore = StartKeystore();
        _reader = Context.Watch(Context.ActorOf(PasswordReaderActor.Props(_session), "password-reader"));
    }

    private IActorRef StartKeystore(IActorRef? announceTo = null) =>
        Context.Watch(Context.ActorOf(KeystoreActor.Props(_session, _settings, announceTo), $"keystore-{++_keystoreGeneration}"));

    private void Serve(VaultEnvelope envelope)
    {
        if (envelope.Body is not IVaultRequest request)
        {
            Refuse($"{envelope.Body.GetType().Name} is not a request");
            return;
        }

        switch (request)
        {
            case Ping ping:
                Sender.Tell(new VaultEnvelope(_session, new Pong(ping.RequestId, ping.Sequence)));
                break;
            case Hello:
                _client = Sender;
                _log.Info("Audit: application {0} connected to the vault.", Sender.Path.Address);
                _keystore.Tell(new Routed(request, Sender));
                break;
            case ReadSecret:
                _reader.Tell(new Routed(request, Sender));
                break;
            default:
                _keystore.Tell(new Routed(request, Sender));
                break;
        }
    }

    private void Refuse(string reason)
    {
        long count = ++_refusals;
        _log.Warning("Audit: refused a message from {0}: {1} (refusal #{2}).", Sender.Path, reason, count);
        if (!Sender.IsNobody() && !Sender.Equals(Context.System.DeadLetters))
        {
            Sender.Tell(new Refused("not authenticated for this vault"));
        }
    }

    private void ChildStopped(IActorRef child)
    {
        if (child.Equals(_keystore))
        {
            // The new keystore tells the application itself, with its new public key, once it has one.
            _keystore = StartKeystore(_client);
            _log.Warning("The keystore stopped; a new, empty keystore took its place. Every secret must be set again.");
        }
        else if (child.Equals(_reader))
        {
            _reader = Context.Watch(Context.ActorOf(PasswordReaderActor.Props(_session), $"password-reader-{Guid.NewGuid():N}"));
            _log.Warning("The password reader stopped; a new one took its place.");
        }
    }
}
