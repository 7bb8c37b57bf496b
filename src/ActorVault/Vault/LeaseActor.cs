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
/// names, ids, durations, reasons; never bytes. The secret itself is opened by the keystore and sent
/// sealed to the session straight to the application.
/// </summary>
internal sealed class LeaseActor : ReceiveActor, IWithTimers
{
    private readonly SessionId _session;
    private readonly LeaseSettings _settings;
    private readonly Dictionary<Guid, LeaseRecord> _leases = [];
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public LeaseActor(SessionId session, LeaseSettings settings)
    {
        _session = session;
        _settings = settings;
        Receive<LeaseCommand>(c => Handle(c));
        Receive<LeaseOpened>(o => Opened(o));
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
            Refuse(command, acquire, VaultErrorCode.BadRequest, $"Secret name {SecretNames.Describe(acquire.Name)} is invalid.");
            return;
        }

        if (acquire.TtlMs <= 0 || acquire.TtlMs > _settings.MaxTtl.TotalMilliseconds)
        {
            Refuse(command, acquire, VaultErrorCode.BadRequest, $"A lease lasts 1 ms to {_settings.MaxTtl.TotalSeconds:0.#} s, not {acquire.TtlMs} ms.");
            return;
        }

        if (_leases.Count >= _settings.MaxPerSession)
        {
            Refuse(command, acquire, VaultErrorCode.Busy, $"{_leases.Count} leases are live in this session (the maximum is {_settings.MaxPerSession}); release or revoke some first.");
            return;
        }

        var record = new LeaseRecord(Guid.NewGuid(), acquire.Name, _clock.Elapsed, TimeSpan.FromMilliseconds(acquire.TtlMs), command.ReplyTo);
        _leases[record.Id] = record;
        Timers.StartSingleTimer(record.Id, new LeaseDeadline(record.Id), record.Ttl);
        command.Keystore.Tell(new OpenForLease(acquire, record.Id, acquire.TtlMs, command.ReplyTo, Self));
    }

    private void Opened(LeaseOpened opened)
    {
        if (!_leases.TryGetValue(opened.LeaseId, out LeaseRecord? record))
        {
            return;
        }

        if (!opened.Granted)
        {
            _leases.Remove(opened.LeaseId);
            Timers.Cancel(opened.LeaseId);
            Audit(LeaseAuditKind.Refused, record, "secret not available", TimeSpan.Zero);
            return;
        }

        Audit(LeaseAuditKind.Granted, record, $"ttl {record.Ttl.TotalMilliseconds:0} ms", TimeSpan.Zero);
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

    private void Refuse(LeaseCommand command, AcquireLease acquire, VaultErrorCode code, string message)
    {
        _log.Info("Audit: lease of {0} refused: {1}", SecretNames.Describe(acquire.Name), message);
        Context.System.EventStream.Publish(new LeaseAuditEvent(LeaseAuditKind.Refused, Guid.Empty, acquire.Name, TimeSpan.Zero, message));
        command.ReplyTo.Tell(new VaultEnvelope(_session, new RequestFailed(acquire.RequestId, code, message, 0)));
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
}

/// <summary>The guardian hands an authenticated lease request or notice to the lease actor.</summary>
internal sealed record LeaseCommand(IVaultProtocolMessage Message, IActorRef ReplyTo, IActorRef Keystore);

/// <summary>Lease limits in the vault, from <c>actorvault.lease</c>.</summary>
internal sealed record LeaseSettings(int MaxPerSession, TimeSpan MaxTtl)
{
    public static readonly LeaseSettings Default = new(256, TimeSpan.FromMinutes(10));
}
