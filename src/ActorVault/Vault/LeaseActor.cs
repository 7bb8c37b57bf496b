using ActorVault.Agent;
using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using ActorVault.Protocol;
using ActorVault.Serialization;

namespace ActorVault.Vault;

/// <summary>
/// Grants callback-scoped leases (vault side): each lease has an id, a secret name, the session, a
/// grant time and a hard deadline. Enforces caps (per session and in total), revokes one or all
/// leases (and every lease of a secret that is locked), expires leases at their deadline, and keeps
/// an audit trail (granted, released, expired, revoked, refused) on the event stream and in the log —
/// names, ids, durations, reasons; never bytes. The lease path is a straight line with this actor as
/// its one owner: check the caps, have the keystore seal the secret to the session (the only thing it
/// does for a lease), then record the lease, arm its deadline, audit, and only then answer the
/// application. A refusal is audited before it leaves too; nothing is recorded that must be undone.
/// </summary>
internal sealed class LeaseActor : ReceiveActor, IWithTimers
{
    private readonly SessionId _session;
    private readonly LeaseSettings _settings;
    private readonly Dictionary<Guid, LeaseRecord> _leases = [];
    private readonly Dictionary<Guid, Opening> _opening = [];
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public LeaseActor(SessionId session, LeaseSettings settings)
    {
        _session = session;
        _settings = settings;
        Receive<LeaseCommand>(c => Handle(c));
        Receive<LeaseSealed>(s => Sealed(s));
        Receive<Terminated>(t => KeystoreGone(t.ActorRef));
        Receive<LeaseDeadline>(d => Expire(d.LeaseId));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(SessionId session, LeaseSettings settings) =>
        Akka.Actor.Props.Create(() => new LeaseActor(session, settings));

    private void Handle(LeaseCommand command)
    {
        switch (command.Message)
        {
            case AcquireLease acquire:
                Acquire(acquire, command);
                break;
            case RevokeLeases revoke:
                int count = revoke.LeaseId != Guid.Empty
                    ? RevokeWhere(l => l.Id == revoke.LeaseId, "revoked by the application")
                    : RevokeWhere(l => revoke.Name is null || l.Name == revoke.Name, revoke.Name is null ? "all leases revoked" : $"all leases of '{revoke.Name}' revoked");
                command.ReplyTo.Tell(new VaultEnvelope(_session, new LeasesRevoked(revoke.RequestId, count)));
                break;
            case LockSecret locking:
                RevokeWhere(l => l.Name == locking.Name, $"secret '{locking.Name}' locked");
                // A lease still being sealed is refused now, as if it had asked after the lock (its seal is dropped on arrival).
                foreach ((Guid id, Opening opening) in _opening.Where(o => o.Value.Request.Name == locking.Name).ToList())
                {
                    _opening.Remove(id);
                    Refuse(opening.Client, opening.Request, VaultErrorCode.SecretLocked, $"Secret {SecretNames.Describe(locking.Name)} was locked while its lease was being granted.");
                }

                command.Keystore.Tell(new Routed(locking, command.ReplyTo));
                break;
            case LeaseReleased released:
                if (_leases.Remove(released.LeaseId, out LeaseRecord? record))
                {
                    Timers.Cancel(released.LeaseId);
                    Audit(LeaseAuditKind.Released, record, released.Outcome, TimeSpan.FromTicks(released.HeldMicros * 10));
                }

                break;
        }
    }

    private void Acquire(AcquireLease acquire, LeaseCommand command)
    {
        if (!SecretNames.IsValid(acquire.Name))
        {
            Refuse(command.ReplyTo, acquire, VaultErrorCode.BadRequest, $"Secret name {SecretNames.Describe(acquire.Name)} is invalid.");
            return;
        }

        if (acquire.TtlMs <= 0 || acquire.TtlMs > _settings.MaxTtl.TotalMilliseconds)
        {
            Refuse(command.ReplyTo, acquire, VaultErrorCode.BadRequest, $"A lease lasts 1 ms to {_settings.MaxTtl.TotalSeconds:0.#} s, not {acquire.TtlMs} ms.");
            return;
        }

        // Leases being sealed count: they are about to be live.
        if (_leases.Count + _opening.Count >= _settings.MaxPerSession)
        {
            Refuse(command.ReplyTo, acquire, VaultErrorCode.Busy, $"{_leases.Count + _opening.Count} leases are live in this session (the maximum is {_settings.MaxPerSession}); release or revoke some first.");
            return;
        }

        var id = Guid.NewGuid();
        _opening[id] = new Opening(acquire, command.ReplyTo, command.Keystore);
        Context.Watch(command.Keystore);
        command.Keystore.Tell(new OpenForLease(acquire, id));
    }

    private void Sealed(LeaseSealed sealedLease)
    {
        if (!_opening.Remove(sealedLease.LeaseId, out Opening? opening))
        {
            return; // refused meanwhile (its secret was locked): the sealed copy is dropped, never sent
        }

        if (sealedLease.Reply is not LeaseGranted granted)
        {
            var failed = (RequestFailed)sealedLease.Reply;
            Refuse(opening.Client, opening.Request, failed.Code, failed.Message);
            return;
        }

        var record = new LeaseRecord(sealedLease.LeaseId, granted.Name, _clock.Elapsed, TimeSpan.FromMilliseconds(granted.TtlMs), opening.Client);
        _leases[record.Id] = record;
        Timers.StartSingleTimer(record.Id, new LeaseDeadline(record.Id), record.Ttl);
        Audit(LeaseAuditKind.Granted, record, $"ttl {record.Ttl.TotalMilliseconds:0} ms", TimeSpan.Zero);
        opening.Client.Tell(new VaultEnvelope(_session, granted));
    }

    /// <summary>A keystore that stopped answers no more seals: its openings fail now, not at the application's timeout.</summary>
    private void KeystoreGone(IActorRef keystore)
    {
        foreach ((Guid id, Opening opening) in _opening.Where(o => o.Value.Keystore.Equals(keystore)).ToList())
        {
            _opening.Remove(id);
            Refuse(opening.Client, opening.Request, VaultErrorCode.KeystoreUnavailable, "The vault's keystore failed while granting the lease; it is replaced by an empty one.");
        }
    }

    private void Expire(Guid leaseId)
    {
        if (_leases.Remove(leaseId, out LeaseRecord? record))
        {
            Audit(LeaseAuditKind.Expired, record, "deadline passed without a release", _clock.Elapsed - record.GrantedAt);
            record.Client.Tell(new VaultEnvelope(_session, new LeaseExpired(leaseId)));
        }
    }

    private int RevokeWhere(Func<LeaseRecord, bool> match, string reason)
    {
        List<LeaseRecord> revoked = [.. _leases.Values.Where(match)];
        foreach (LeaseRecord record in revoked)
        {
            _leases.Remove(record.Id);
            Timers.Cancel(record.Id);
            Audit(LeaseAuditKind.Revoked, record, reason, _clock.Elapsed - record.GrantedAt);
            record.Client.Tell(new VaultEnvelope(_session, new LeaseRevoked(record.Id, reason)));
        }

        return revoked.Count;
    }

    private void Refuse(IActorRef client, AcquireLease acquire, VaultErrorCode code, string message)
    {
        _log.Info("Audit: lease of {0} refused: {1}", SecretNames.Describe(acquire.Name), message);
        Context.System.EventStream.Publish(new LeaseAuditEvent(LeaseAuditKind.Refused, Guid.Empty, acquire.Name, TimeSpan.Zero, message));
        client.Tell(new VaultEnvelope(_session, new RequestFailed(acquire.RequestId, code, message, 0)));
    }

    private void Audit(LeaseAuditKind kind, LeaseRecord record, string reason, TimeSpan duration)
    {
        Context.System.EventStream.Publish(new LeaseAuditEvent(kind, record.Id, record.Name, duration, reason));
        if (kind is LeaseAuditKind.Granted or LeaseAuditKind.Released)
        {
            if (_log.IsDebugEnabled)
            {
                _log.Debug("Audit: lease {0} of {1} {2} ({3}, {4:0.###} ms).", record.Id, SecretNames.Describe(record.Name), kind.ToString().ToLowerInvariant(), reason, duration.TotalMilliseconds);
            }
        }
        else
        {
            _log.Info("Audit: lease {0} of {1} {2} ({3}, after {4:0.###} ms).", record.Id, SecretNames.Describe(record.Name), kind.ToString().ToLowerInvariant(), reason, duration.TotalMilliseconds);
        }
    }

    private sealed record LeaseRecord(Guid Id, string Name, TimeSpan GrantedAt, TimeSpan Ttl, IActorRef Client);

    private sealed record LeaseDeadline(Guid LeaseId);

    private sealed record Opening(AcquireLease Request, IActorRef Client, IActorRef Keystore);
}

/// <summary>The guardian hands an authenticated lease request or notice to the lease actor.</summary>
internal sealed record LeaseCommand(IVaultProtocolMessage Message, IActorRef ReplyTo, IActorRef Keystore);

/// <summary>Lease limits in the vault, from <c>actorvault.lease</c>.</summary>
internal sealed record LeaseSettings(int MaxPerSession, TimeSpan MaxTtl);
