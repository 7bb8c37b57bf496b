using Akka.Actor;
using Akka.Event;
using ActorVault.Crypto;
using ActorVault.Memory;
using ActorVault.Memory.Readers;
using ActorVault.Protocol;
using ActorVault.Serialization;
using ActorVault.Vault;

namespace ActorVault.Standalone;

/// <summary>
/// <c>/user/host</c> of the standalone host's system, the one path clients may select. It serves only
/// envelopes, and an envelope reaches it only when it authenticated under a session derived from the
/// host's client key (see <see cref="HostSessions"/>). Leases are taken from the host's own vault
/// (<see cref="VaultClient"/>), re-sealed to the client's session inside the lease callback, and the
/// host's copy is zeroed when the callback returns. Anything else gets <see cref="Refused"/> and an audit line.
/// </summary>
internal sealed class HostGateway : ReceiveActor, IWithTimers
{
    public const string Name = "host";

    private readonly VaultClient _vault;
    private readonly HostSessions _sessions;
    private readonly HostSettings _settings;
    private readonly Action _stop;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly HashSet<SessionId> _announced = [];
    private readonly DateTimeOffset _started = DateTimeOffset.UtcNow;
    private long _leasesGranted;
    private long _refusals;

    public HostGateway(VaultClient vault, HostSessions sessions, HostSettings settings, Action stop)
    {
        _vault = vault;
        _sessions = sessions;
        _settings = settings;
        _stop = stop;
        Receive<VaultEnvelope>(Serve);
        Receive<RejectedEnvelope>(r => Refuse(r.Reason, Admission(r.Reason)));
        Receive<Sweep>(_ => SweepSessions());
        Receive<Granted>(_ => _leasesGranted++);
        // A refusal is never answered: two refusing actors (or one, given itself as the sender) must not bounce.
        Receive<Refused>(_ => _refusals++);
        ReceiveAny(m => Refuse($"unexpected {m.GetType().Name}"));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(VaultClient vault, HostSessions sessions, HostSettings settings, Action stop) =>
        Akka.Actor.Props.Create(() => new HostGateway(vault, sessions, settings, stop));

    internal static byte[] UnlockAad(string name, Guid requestId) => System.Text.Encoding.UTF8.GetBytes($"actorvault/v1/host-unlock\0{name}\0{requestId:N}");

    protected override void PreStart() => Timers.StartPeriodicTimer("sweep", Sweep.Instance, _settings.SweepInterval);

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);

    private void Serve(VaultEnvelope envelope)
    {
        SessionId session = envelope.Session;
        _sessions.Seen(session);
        if (_announced.Add(session))
        {
            _log.Info("Audit: client session {0} opened ({1} open).", session, _sessions.Open);
        }

        if (envelope.Body is HostBye)
        {
            _announced.Remove(session);
            _sessions.Retire(session);
            _log.Info("Audit: client session {0} closed; its keys are zeroed.", session);
            return;
        }

        if (envelope.Body is not IVaultRequest request)
        {
            Refuse($"{envelope.Body.GetType().Name} is not a request");
            return;
        }

        IActorRef self = Self;
        HandleAsync(request, session, self).PipeTo(
            Sender,
            self,
            success: reply => new VaultEnvelope(session, reply),
            failure: e => new VaultEnvelope(session, Failed(request.RequestId, e is AggregateException { InnerException: { } inner } ? inner : e)));
    }

    private async Task<IVaultReply> HandleAsync(IVaultRequest request, SessionId session, IActorRef self)
    {
        switch (request)
        {
            case Ping ping:
                return new Pong(ping.RequestId, ping.Sequence);
            case HostStatusRequest status:
                return await StatusAsync(status.RequestId).ConfigureAwait(false);
            case HostLease lease:
                IVaultReply granted = await LeaseAsync(lease, Keys(session)).ConfigureAwait(false);
                self.Tell(Granted.Instance);
                return granted;
            case HostUnlock unlock:
                return await UnlockAsync(unlock, Keys(session)).ConfigureAwait(false);
            case LockSecret lockSecret:
                CheckName(lockSecret.Name);
                bool existed = await _vault.LockSecretAsync(lockSecret.Name).ConfigureAwait(false);
                return new SecretLocked(lockSecret.RequestId, lockSecret.Name, existed);
            case HostStop stop:
                _stop();
                return new HostStopping(stop.RequestId, Environment.ProcessId);
            default:
                throw new VaultOperationException(VaultError.BadRequest, $"{request.GetType().Name} is not a request the standalone host serves.");
        }
    }

    private async Task<IVaultReply> StatusAsync(Guid requestId)
    {
        VaultStatus status = await _vault.GetStatusAsync().ConfigureAwait(false);
        return new HostStatusReply(
            requestId,
            Environment.ProcessId,
            status.VaultPid,
            status.State.ToString(),
            (long)(DateTimeOffset.UtcNow - _started).TotalMilliseconds,
            status.Restarts,
            [.. status.Secrets],
            _settings.SecretName,
            _vault.LiveLeases,
            Interlocked.Read(ref _leasesGranted),
            status.Backing,
            status.LockedBytes,
            status.LiveBuffers,
            status.Hardened,
            Memory.ProcessHardening.Status() is { IsHardened: true, DiagnosticsDisabled: true },
            status.SecureHeapUsedBytes,
            status.SecureHeapSizeBytes,
            status.KeyBits,
            _sessions.Open);
    }

    private async Task<IVaultReply> LeaseAsync(HostLease request, SessionKeys keys)
    {
        CheckName(request.Name);
        TimeSpan ttl = request.TtlMs <= 0 ? _settings.LeaseTtl : TimeSpan.FromMilliseconds(Math.Min(request.TtlMs, (long)_settings.LeaseTtl.TotalMilliseconds));
        Guid leaseId = Guid.NewGuid();
        byte[] aad = KeystoreActor.LeaseAad(request.Name, leaseId);
        (byte[] nonce, byte[] ciphertext, byte[] tag) = await _vault.WithSecretAsync(
            request.Name, bytes => Aead.Seal(keys.PayloadKey, bytes, aad), new LeaseOptions { Ttl = ttl }).ConfigureAwait(false);
        _log.Info("Audit: lease {0} of {1} re-sealed to client session {2}; the host's copy is zeroed.", leaseId, SecretNames.Describe(request.Name), keys.Id);
        return new LeaseGranted(request.RequestId, leaseId, request.Name, (long)ttl.TotalMilliseconds, nonce, ciphertext, tag);
    }

    private async Task<IVaultReply> UnlockAsync(HostUnlock request, SessionKeys keys)
    {
        CheckName(request.Name);
        if (!Aead.IsWellFormed(request.Nonce, request.Ciphertext, request.Tag))
        {
            throw new SecretInputException(SecretInputError.Empty, "The secret to unlock with is empty or malformed.");
        }

        SecretBuffer secret = Aead.TryOpen(keys.PayloadKey, request.Nonce, request.Ciphertext, request.Tag, UnlockAad(request.Name, request.RequestId))
            ?? throw new VaultOperationException(VaultError.SealedPayloadRejected, "The sealed secret failed authentication; refused.");
        int length = secret.Length;
        await _vault.SetSecretAsync(request.Name, secret).ConfigureAwait(false);
        _log.Info("Audit: secret {0} set by client session {1} ({2} bytes).", SecretNames.Describe(request.Name), keys.Id, length);
        return new SecretStored(request.RequestId, request.Name, length);
    }

    private SessionKeys Keys(SessionId session) =>
        SessionKeyRing.For(Context.System).TryGet(session, out SessionKeys? keys)
            ? keys
            : throw new VaultUnavailableException("The client session is closed.", VaultState.Stopped);

    private static void CheckName(string name)
    {
        if (!SecretNames.IsValid(name))
        {
            throw new VaultOperationException(VaultError.BadRequest, $"Secret name {SecretNames.Describe(name)} is invalid: use 1–{SecretNames.MaxLength} characters of A–Z, a–z, 0–9, '.', '_', '-'.");
        }
    }

    private static RequestFailed Failed(Guid requestId, Exception e) => e switch
    {
        SecretLockedException => new RequestFailed(requestId, VaultErrorCode.SecretLocked, e.Message, 0),
        LeaseCapacityException => new RequestFailed(requestId, VaultErrorCode.Busy, e.Message, 0),
        SecretInputException input => new RequestFailed(requestId, VaultErrorCode.SecretInput, e.Message, (int)input.Error),
        VaultOperationException op => new RequestFailed(requestId, Enum.TryParse(op.Error.ToString(), out VaultErrorCode code) ? code : VaultErrorCode.Unknown, e.Message, 0),
        VaultUnavailableException => new RequestFailed(requestId, VaultErrorCode.KeystoreUnavailable, e.Message, 0),
        _ => new RequestFailed(requestId, VaultErrorCode.Unknown, $"The host failed ({e.GetType().Name}).", 0),
    };

    private void Refuse(string reason, string answer = "refused")
    {
        long n = ++_refusals;
        if (n <= 10 || n % 1000 == 0)
        {
            _log.Warning("Audit: refused a message from {0}: {1} ({2} refused so far).", Sender.Path.Address, reason, n);
        }

        if (RefusalPolicy.MayAnswer(Sender, Self, Context.System))
        {
            Sender.Tell(new Refused(answer));
        }
    }

    /// <summary>
    /// Admission refusals depend only on the frame's public header (its session id), so their reason is
    /// told to the client; an authentication failure says only "refused".
    /// </summary>
    private static string Admission(string reason) =>
        reason is "stale or future session id" or "retired session id" or "too many open sessions" ? reason : "refused";

    private void SweepSessions()
    {
        int swept = _sessions.Sweep(_settings.SessionIdleTimeout);
        _announced.RemoveWhere(id => !_sessions.IsOpen(id));
        if (swept > 0)
        {
            _log.Info("Audit: {0} idle client session(s) closed; their keys are zeroed.", swept);
        }
    }

    private sealed class Sweep
    {
        public static readonly Sweep Instance = new();
    }

    private sealed class Granted
    {
        public static readonly Granted Instance = new();
    }
}

/// <summary>Settings of the standalone host (<c>actorvault.host</c>).</summary>
internal sealed record HostSettings(string SecretName, int MaxSessions, TimeSpan SessionIdleTimeout, TimeSpan ClockSkew, TimeSpan LeaseTtl, TimeSpan SweepInterval)
{
    public static HostSettings From(Akka.Configuration.Config config, string secretName) => new(
        secretName,
        config.GetInt("actorvault.host.max-sessions", 256),
        config.GetTimeSpan("actorvault.host.session-idle-timeout", TimeSpan.FromMinutes(5)),
        config.GetTimeSpan("actorvault.host.session-clock-skew", TimeSpan.FromMinutes(2)),
        config.GetTimeSpan("actorvault.host.lease-ttl", TimeSpan.FromSeconds(30)),
        config.GetTimeSpan("actorvault.host.sweep-interval", TimeSpan.FromSeconds(30)));
}
