using System.Security.Cryptography;
using Akka.Actor;
using Akka.Configuration;
using ActorVault.Client;
using ActorVault.Configuration;
using ActorVault.Crypto;
using ActorVault.Memory;
using ActorVault.Protocol;
using ActorVault.Serialization;
using static ActorVault.Client.SupervisorProtocol;

namespace ActorVault;

/// <summary>
/// The application's handle on its vault: starts the vault child process (through the
/// VaultSupervisor actor, in a small loopback-only link actor system of its own) and talks to it.
/// Secrets go in sealed to the vault's public key (the caller's copy is zeroed at once) or are read
/// by the vault itself from its terminal, a file, a descriptor or a systemd credential; they never
/// come back as plain bytes except inside a callback (see the lease API).
/// </summary>
public sealed partial class VaultClient : IVault
{
    /// <summary>Name of the default secret (the PoC's single password).</summary>
    public const string DefaultSecretName = Agent.SecretNames.Default;

    private readonly ActorSystem _system;
    private readonly bool _ownsSystem;
    private readonly IActorRef _supervisor;
    private readonly IActorRef _listener;
    private readonly ClientSecretTracker _tracker;
    private readonly SupervisorSettings _settings;
    private readonly SupervisorView _view;
    private readonly LeaseDefaults _leaseDefaults;
    private readonly SemaphoreSlim _capacity;
    private readonly LeaseHooks _leaseHooks;
    private readonly Lock _gate = new();
    private VaultPublicKey? _publicKey;
    private int _disposed;
    private int _shuttingDown;
    private List<System.Runtime.InteropServices.PosixSignalRegistration> _signals = [];
    private UnhandledExceptionEventHandler? _onUnhandled;

    private readonly Microsoft.Extensions.Logging.ILogger? _logger;

    private readonly Microsoft.Extensions.Logging.ILogger? _auditLogger;

    private VaultClient(ActorSystem system, bool ownsSystem, IActorRef supervisor, ClientSecretTracker tracker, SupervisorSettings settings, SupervisorView view, LeaseDefaults leaseDefaults, Microsoft.Extensions.Logging.ILogger? logger, Microsoft.Extensions.Logging.ILogger? auditLogger)
    {
        _logger = logger;
        _auditLogger = auditLogger;
        _leaseDefaults = leaseDefaults;
        _stopGrace = settings.StopGrace;
        _leaseHooks = new LeaseHooks(
            AcquireAsync,
            (lease, held, outcome) => _supervisor.Tell(new Notify(new LeaseReleased(lease.Id, (long)held.TotalMicroseconds, outcome))),
            Audit)
        {
            Instruments = settings.Instruments ?? VaultMetrics.Shared,
        };
        _capacity = new SemaphoreSlim(leaseDefaults.MaxConcurrent, leaseDefaults.MaxConcurrent);
        _system = system;
        _ownsSystem = ownsSystem;
        _supervisor = supervisor;
        _tracker = tracker;
        _settings = settings;
        _view = view;
        _listener = system.ActorOf(Props.Create(() => new StateListener(this, supervisor)).WithDeploy(Deploy.Local));
        system.EventStream.Subscribe(_listener, typeof(VaultStateChanged));
        if (auditLogger is not null)
        {
            system.EventStream.Subscribe(_listener, typeof(LeaseAuditEvent));
        }
    }

    /// <summary>Raised (on an actor thread) whenever the vault's state changes: locked, unlocked, restarting, stopped.</summary>
    public event EventHandler<VaultStateChanged>? StateChanged;

    /// <summary>The vault's state as last reported.</summary>
    public VaultState State => _view.Current.State;

    /// <summary>Process id of the current vault child (0 while none runs).</summary>
    public int VaultPid => _view.Current.VaultPid;

    /// <summary>The supervisor actor (internal protocol only: tests and fault injection).</summary>
    internal IActorRef Supervisor => _supervisor;

    /// <summary>The link actor system (loopback only) that hosts the supervisor.</summary>
    public ActorSystem LinkSystem => _system;

    internal ClientSecretTracker Tracker => _tracker;

    /// <summary>Full remote path of the vault's guardian (for tests that play a rogue client).</summary>
    internal string GuardianPath => _view.Current.GuardianPath;

    /// <summary>The vault's status: state, pid, key size, secure heap, memory backing, secret names.</summary>
    public async Task<VaultStatus> GetStatusAsync(CancellationToken cancellationToken = default)
    {
        VaultStatusReply reply = await Send<VaultStatusReply>(new GetVaultStatus(Guid.NewGuid()), cancellationToken).ConfigureAwait(false);
        Snapshot snapshot = _view.Current;
        return new VaultStatus(snapshot.State, reply.VaultPid, reply.Keystore.KeyBits, reply.Keystore.SecureHeapUsedBytes, reply.Keystore.SecureHeapSizeBytes,
            reply.Memory.Backing, reply.Memory.LockedBytes, reply.Memory.LiveBuffers, reply.Memory.Hardened, reply.Secrets, snapshot.Restarts);
    }

    /// <summary>
    /// Makes a new RSA keypair in the vault's OpenSSL secure heap (seed parity: <c>generateSecureKeypair</c>);
    /// stored secrets stay (their data keys do not depend on the RSA key). <paramref name="bits"/> 0 = the configured size.
    /// </summary>
    public async Task<SecureHeapUsage> GenerateSecureKeypairAsync(int bits = 0, CancellationToken cancellationToken = default)
    {
        _ = await Send<KeypairGenerated>(new GenerateKeypair(Guid.NewGuid(), bits), cancellationToken).ConfigureAwait(false);
        return await VerifyExpectedAllocationAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The vault's secure-heap use and whether the private key is in it (seed parity: <c>verifyExpectedAllocation</c>).</summary>
    public async Task<SecureHeapUsage> VerifyExpectedAllocationAsync(CancellationToken cancellationToken = default)
    {
        SecureHeapReport r = await Send<SecureHeapReport>(new GetSecureHeapReport(Guid.NewGuid()), cancellationToken).ConfigureAwait(false);
        return new SecureHeapUsage(r.Initialized, r.SizeBytes, r.UsedBytes, r.KeyBits, r.PrivateKeyInSecureHeap);
    }

    /// <summary>True when the vault's OpenSSL secure heap is initialized (seed parity: <c>checkSecureHeapEnabled</c>).</summary>
    public async Task<bool> CheckSecureHeapEnabledAsync(CancellationToken cancellationToken = default) =>
        (await VerifyExpectedAllocationAsync(cancellationToken).ConfigureAwait(false)).Enabled;

    /// <summary>
    /// Has the vault read secret <paramref name="name"/> itself, from <paramref name="source"/>, straight
    /// into its secret memory (seed parity: <c>readInPassword(prompt)</c> with a terminal source).
    /// Errors: <see cref="Memory.Readers.SecretInputException"/> (empty, too long, no terminal, …),
    /// <see cref="VaultOperationException"/> (confirmation mismatch, bad name).
    /// </summary>
    public async Task<int> ReadSecretAsync(string name, SecretSource source, int maxBytes = 4096, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(source);
        ReadSecret request = source switch
        {
            SecretSource.Terminal t => new ReadSecret(Guid.NewGuid(), name, SecretSourceKind.Terminal, null, -1, t.Prompt, t.Confirm, t.ConfirmPrompt, maxBytes),
            SecretSource.File f => new ReadSecret(Guid.NewGuid(), name, SecretSourceKind.File, f.Path, -1, string.Empty, false, string.Empty, maxBytes),
            SecretSource.FileDescriptor d => new ReadSecret(Guid.NewGuid(), name, SecretSourceKind.FileDescriptor, null, d.Descriptor, string.Empty, false, string.Empty, maxBytes),
            SecretSource.SystemdCredential c => new ReadSecret(Guid.NewGuid(), name, SecretSourceKind.SystemdCredential, c.Name, -1, string.Empty, false, string.Empty, maxBytes),
            _ => throw new ArgumentException($"Unknown secret source {source.GetType().Name}.", nameof(source)),
        };
        SecretStored stored = await Send<SecretStored>(request, cancellationToken, interactive: source is SecretSource.Terminal).ConfigureAwait(false);
        return stored.Length;
    }

    /// <summary>
    /// Hands secret <paramref name="name"/> to the vault: sealed here to the vault's public key
    /// (RSA-OAEP-SHA256 + AES-256-GCM), and <paramref name="secret"/> zeroed before this method returns,
    /// whether or not sealing succeeded (seed parity: input overwritten immediately).
    /// </summary>
    public Task SetSecretAsync(string name, Span<byte> secret, CancellationToken cancellationToken = default)
    {
        PublicKeySealed sealedValue;
        try
        {
            sealedValue = Seal(secret, Labels.SetPurpose, name);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
        }

        return Send<SecretStored>(new SetSecret(Guid.NewGuid(), name, sealedValue), cancellationToken);
    }

    /// <summary>As <see cref="SetSecretAsync(string, Span{byte}, CancellationToken)"/>, from a secret buffer, which is zeroed (disposed).</summary>
    public Task SetSecretAsync(string name, SecretBuffer secret, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(secret);
        using (secret)
        using (SecretBuffer.Scope scope = secret.Open())
        {
            return SetSecretAsync(name, scope.WritableBytes, cancellationToken);
        }
    }

    /// <summary>
    /// Compares <paramref name="candidate"/> (in secret memory; the caller keeps and disposes it) with
    /// stored secret <paramref name="name"/> in the vault, in constant time; the candidate travels sealed.
    /// </summary>
    public Task<bool> VerifySecretAsync(string name, SecretBuffer candidate, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        PublicKeySealed sealedValue;
        using (SecretBuffer.Scope scope = candidate.Open())
        {
            sealedValue = Seal(scope.Bytes, Labels.VerifyPurpose, name);
        }

        return VerifySealedAsync(name, sealedValue, cancellationToken);
    }

    /// <summary>
    /// Compares <paramref name="candidate"/> with stored secret <paramref name="name"/> in the vault, in
    /// constant time. As with <see cref="SetSecretAsync(string, Span{byte}, CancellationToken)"/>, the
    /// candidate is sealed at once and the caller's bytes are zeroed before this returns.
    /// </summary>
    public Task<bool> VerifySecretAsync(string name, Span<byte> candidate, CancellationToken cancellationToken = default)
    {
        PublicKeySealed sealedValue;
        try
        {
            sealedValue = Seal(candidate, Labels.VerifyPurpose, name);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(candidate);
        }

        return VerifySealedAsync(name, sealedValue, cancellationToken);
    }

    private async Task<bool> VerifySealedAsync(string name, PublicKeySealed sealedValue, CancellationToken cancellationToken) =>
        (await Send<SecretVerified>(new VerifySecret(Guid.NewGuid(), name, sealedValue), cancellationToken).ConfigureAwait(false)).Matches;

    /// <summary>Makes the vault forget secret <paramref name="name"/> (its data key zeroed). False when it held none.</summary>
    public async Task<bool> LockSecretAsync(string name, CancellationToken cancellationToken = default) =>
        (await Send<SecretLocked>(new LockSecret(Guid.NewGuid(), name), cancellationToken).ConfigureAwait(false)).Existed;

    /// <summary>
    /// Opens secret <paramref name="name"/> into a tracked secret buffer of this process (zeroed by the
    /// supervisor if the vault dies). The basis of leases; the caller must dispose it.
    /// </summary>
    internal async Task<SecretBuffer> OpenSecretAsync(string name, CancellationToken cancellationToken = default)
    {
        // A lease like any other (deadline, audit, revoke in the vault): the vault has no other way out.
        SecretBuffer buffer = await this.WithSecretAsync(name, static bytes => SecretMemory.CopyFrom(bytes), cancellationToken: cancellationToken).ConfigureAwait(false);
        _tracker.Track(buffer);
        return buffer;
    }

    /// <summary>
    /// Opens a payload the vault sealed to this session straight into a secret buffer. Malformed or
    /// inauthentic: <see cref="VaultOperationException"/>; session keys zeroed meanwhile (vault died):
    /// <see cref="VaultUnavailableException"/>.
    /// </summary>
    private SecretBuffer OpenPayload(SessionKeys keys, byte[]? nonce, byte[]? ciphertext, byte[]? tag, byte[] aad, string name)
    {
        if (!Aead.IsWellFormed(nonce, ciphertext, tag))
        {
            throw new VaultOperationException(VaultError.SealedPayloadRejected, $"The vault's sealed payload for secret '{name}' is malformed; refused.");
        }

        try
        {
            return Aead.TryOpen(keys.PayloadKey, nonce, ciphertext, tag, aad)
                ?? throw new VaultOperationException(VaultError.SealedPayloadRejected, $"The sealed payload for secret '{name}' failed authentication; refused.");
        }
        catch (ObjectDisposedException)
        {
            throw new VaultUnavailableException("The vault session ended while the secret was being opened.", State);
        }
    }

    /// <summary>Leases held by this application right now.</summary>
    public int LiveLeases => _tracker.LiveLeases;

    /// <inheritdoc />
    public async Task<T> WithSecretAsync<T>(string name, Func<SecretLease, ValueTask<T>> callback, LeaseOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(callback);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Volatile.Read(ref _shuttingDown) != 0)
        {
            throw new VaultUnavailableException("The application is shutting down; no new leases are granted.", VaultState.Stopped);
        }

        TimeSpan ttl = options?.Ttl ?? _leaseDefaults.DefaultTtl;
        if (ttl <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), ttl, "A lease's deadline must be positive.");
        }

        TimeSpan wait = options?.CapacityWait ?? _leaseDefaults.CapacityWait;
        return await LeaseRunner.RunAsync(name, callback, ttl, wait, _leaseDefaults.MaxConcurrent, _capacity, _tracker, _leaseHooks, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<int> ReadInPasswordAsync(string prompt = "Password: ", CancellationToken cancellationToken = default)
    {
        if (Memory.Readers.SecretReaders.StandardInputIsTerminal)
        {
            // The vault reads the terminal itself: the password never passes through this process.
            return await ReadSecretAsync(DefaultSecretName, new SecretSource.Terminal(prompt), cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        // A blocking read(2) straight into secret memory, off the caller's thread; cancellable.
        SecretBuffer secret = await Task.Run(() => Memory.Readers.SecretReaders.ReadFromStandardInput(cancellationToken: cancellationToken), CancellationToken.None).ConfigureAwait(false);
        int length = secret.Length;
        await SetSecretAsync(DefaultSecretName, secret, cancellationToken).ConfigureAwait(false);
        return length;
    }

    /// <inheritdoc />
    public async Task<bool> RevokeLeaseAsync(Guid leaseId, CancellationToken cancellationToken = default)
    {
        // Audited once, with its name and time held, when its callback is over (LeaseRunner).
        bool local = _tracker.End(leaseId, LeaseEnd.Revoked, "revoked by the application");
        LeasesRevoked revoked = await Send<LeasesRevoked>(new RevokeLeases(Guid.NewGuid(), leaseId, null), cancellationToken).ConfigureAwait(false);
        return local || revoked.Count > 0;
    }

    /// <inheritdoc />
    public async Task<int> RevokeAllLeasesAsync(string? name = null, CancellationToken cancellationToken = default)
    {
        LeasesRevoked revoked = await Send<LeasesRevoked>(new RevokeLeases(Guid.NewGuid(), Guid.Empty, name), cancellationToken).ConfigureAwait(false);
        return revoked.Count;
    }

    /// <summary>A plain request/answer round trip to the vault's guardian (the floor under a lease's latency).</summary>
    public async Task PingAsync(CancellationToken cancellationToken = default) =>
        _ = await Send<Pong>(new Ping(Guid.NewGuid(), 0), cancellationToken).ConfigureAwait(false);

    private async Task<SecretLease> AcquireAsync(string name, TimeSpan ttl, CancellationToken cancellationToken)
    {
        (SessionId session, LeaseGranted granted) = await SendStamped<LeaseGranted>(new AcquireLease(Guid.NewGuid(), name, (long)Math.Ceiling(ttl.TotalMilliseconds)), cancellationToken).ConfigureAwait(false);
        if (granted.Name != name)
        {
            throw new VaultOperationException(VaultError.SealedPayloadRejected, $"The vault's lease of '{granted.Name}' does not match the request for '{name}'; refused.");
        }

        if (!SessionKeyRing.For(_system).TryGet(session, out SessionKeys? keys))
        {
            throw new VaultUnavailableException("The vault session ended before the lease could be opened.", State);
        }

        SecretBuffer buffer = OpenPayload(keys, granted.Nonce, granted.Ciphertext, granted.Tag, Labels.Lease(name, granted.LeaseId), name);
        SecretLease lease;
        try
        {
            lease = new SecretLease(granted.LeaseId, name, ttl, buffer);
        }
        catch
        {
            buffer.Dispose();
            throw;
        }

        _tracker.Track(lease);
        Audit(LeaseAuditKind.Granted, lease.Id, name, TimeSpan.Zero, $"ttl {ttl.TotalMilliseconds:0} ms");
        return lease;
    }

    private void Audit(LeaseAuditKind kind, Guid leaseId, string name, TimeSpan duration, string reason) =>
        _system.EventStream.Publish(new LeaseAuditEvent(kind, leaseId, name, duration, reason));

    private async Task<T> Send<T>(IVaultRequest request, CancellationToken cancellationToken, bool interactive = false)
        where T : IVaultReply
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        TimeSpan timeout = (interactive ? _settings.InteractiveTimeout : _settings.RequestTimeout) + TimeSpan.FromSeconds(5);
        object reply = await AskSupervisor(new Request(request, interactive), timeout, cancellationToken).ConfigureAwait(false);
        return reply switch
        {
            T typed => typed,
            Status.Failure failure => throw failure.Cause,
            _ => throw new VaultOperationException(VaultError.Unknown, $"The vault answered {reply.GetType().Name} to {request.GetType().Name}."),
        };
    }

    private async Task<(SessionId Session, T Reply)> SendStamped<T>(IVaultRequest request, CancellationToken cancellationToken)
        where T : IVaultReply
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        object reply = await AskSupervisor(new Request(request), _settings.RequestTimeout + TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        return reply switch
        {
            SessionStamped { Reply: T typed } stamped => (stamped.Session, typed),
            Status.Failure failure => throw failure.Cause,
            _ => throw new VaultOperationException(VaultError.Unknown, $"The vault answered {reply.GetType().Name} to {request.GetType().Name}."),
        };
    }

    private void ThrowIfStopped()
    {
        Snapshot current = _view.Current;
        if (current.State == VaultState.Stopped || _supervisorGone.Task.IsCompleted)
        {
            throw new VaultUnavailableException($"The vault client is stopped ({current.Reason}).", VaultState.Stopped);
        }
    }

    /// <summary>Asks the supervisor; fails at once (not after the timeout) if the supervisor is or becomes gone.</summary>
    private async Task<object> AskSupervisor(Request request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ThrowIfStopped();
        Task<object> ask = _supervisor.Ask<object>(request, timeout, cancellationToken);
        if (await Task.WhenAny(ask, _supervisorGone.Task).ConfigureAwait(false) != ask)
        {
            _ = ask.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            ThrowIfStopped();
        }

        return await ask.ConfigureAwait(false);
    }
}
