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
public sealed class VaultClient : IVault
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

    private VaultClient(ActorSystem system, bool ownsSystem, IActorRef supervisor, ClientSecretTracker tracker, SupervisorSettings settings, SupervisorView view, LeaseDefaults leaseDefaults, Microsoft.Extensions.Logging.ILogger? logger)
    {
        _logger = logger;
        _leaseDefaults = leaseDefaults;
        _stopGrace = settings.StopGrace;
        _leaseHooks = new LeaseHooks(
            AcquireAsync,
            (lease, held, outcome) => _supervisor.Tell(new Notify(new LeaseReleased(lease.Id, (long)held.TotalMicroseconds, outcome))),
            Audit);
        _capacity = new SemaphoreSlim(leaseDefaults.MaxConcurrent, leaseDefaults.MaxConcurrent);
        _system = system;
        _ownsSystem = ownsSystem;
        _supervisor = supervisor;
        _tracker = tracker;
        _settings = settings;
        _view = view;
        _listener = system.ActorOf(Props.Create(() => new StateListener(this, supervisor)).WithDeploy(Deploy.Local));
        system.EventStream.Subscribe(_listener, typeof(VaultStateChanged));
        if (logger is not null)
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

    /// <summary>The supervisor actor, for Akka applications that want to watch it or talk to it directly.</summary>
    public IActorRef Supervisor => _supervisor;

    /// <summary>The link actor system (loopback only) that hosts the supervisor.</summary>
    public ActorSystem LinkSystem => _system;

    internal ClientSecretTracker Tracker => _tracker;

    /// <summary>Full remote path of the vault's guardian (for tests that play a rogue client).</summary>
    internal string GuardianPath => _view.Current.GuardianPath;

    /// <summary>
    /// Starts the vault child and waits until it is up and authenticated (locked, no secret yet).
    /// Throws <see cref="VaultStartupException"/> with the child's stderr tail when it cannot start.
    /// </summary>
    public static Task<VaultClient> StartAsync(VaultClientOptions? options = null, CancellationToken cancellationToken = default) =>
        StartAsync(options ?? new VaultClientOptions(), VaultProcessLauncher.Instance, null, null, cancellationToken);

    /// <summary>
    /// As <see cref="StartAsync(VaultClientOptions?, CancellationToken)"/>, honouring the
    /// <c>actorvault.*</c> settings of the application's own HOCON (<paramref name="applicationConfig"/>,
    /// for instance its actor system's <c>Settings.Config</c>). Precedence: options set in code, then the
    /// application's HOCON, then ActorVault's reference (hocon/actorvault-link.conf). Nothing else of
    /// the application's config reaches the vault link.
    /// </summary>
    public static Task<VaultClient> StartAsync(Config applicationConfig, VaultClientOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(applicationConfig);
        return StartAsync(options ?? new VaultClientOptions(), VaultProcessLauncher.Instance, null, applicationConfig, cancellationToken);
    }

    internal static async Task<VaultClient> StartAsync(VaultClientOptions options, IVaultProcessLauncher launcher, Config? extra, Config? applicationConfig, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.DisableLogRedaction == true)
        {
            Logging.LogRedaction.Enabled = false;
        }

        Microsoft.Extensions.Logging.ILogger? logger = options.Logger is null ? null : Logging.RedactingLogger.ForLogger(options.Logger);
        Action<string>? vaultLog = options.VaultLog ?? (logger is null ? null : line => Microsoft.Extensions.Logging.LoggerExtensions.LogInformation(logger, "[vault] {Line}", line));
        Config config = options.ToConfig();
        if (extra is not null)
        {
            config = extra.WithFallback(config);
        }

        Config overrides = config;
        config = ActorVaultConfig.ForLink(overrides);

        // ActorVault's settings (only actorvault.* is read from this) see the application's HOCON
        // between the options and the reference; the link system itself is built from ActorVault's
        // config alone, so no akka.* setting of the application reaches it.
        Config settingsConfig = applicationConfig is null ? config : overrides.WithFallback(applicationConfig).WithFallback(config);

        // The link system never listens: each vault child's socket, once the child proved itself, is
        // registered here and carries that one association (Transport.LinkSocketTransport).
        var sockets = new Transport.LinkSockets($"app-{Environment.ProcessId}");
        SupervisorSettings settings = SupervisorSettings.Create(settingsConfig) with { Sockets = sockets };

        if (settings.HardenProcess)
        {
            HardenApplication(logger);
        }

        // Start the vault child first, so that its startup overlaps the link system's.
        PreLaunchedVault preLaunched = PreLaunch(settings, launcher);

        ActorSystem system;
        try
        {
            system = ActorSystem.Create(Transport.LinkHandshake.LinkSystem, BootstrapSetup.Create().WithConfig(config).And(sockets));
        }
        catch
        {
            _ = preLaunched.Discard();
            throw;
        }

        try
        {
            var tracker = new ClientSecretTracker();
            var view = new SupervisorView();
            IActorRef supervisor = system.ActorOf(VaultSupervisor.Props(settings, launcher, tracker, vaultLog, view, preLaunched), "vault-supervisor");
            _ = await supervisor.Ask<Snapshot>(WhenStarted.Instance, settings.StartupTimeout + TimeSpan.FromSeconds(15), cancellationToken).ConfigureAwait(false);
            var client = new VaultClient(system, ownsSystem: true, supervisor, tracker, settings, view, LeaseDefaults.Create(settingsConfig), logger);
            client.RegisterShutdown(options.HandleSignals ?? true);
            return client;
        }
        catch
        {
            await system.Terminate().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// This process holds session keys and live leases: not dumpable, no core files. The diagnostic port
    /// can only be closed by the environment before the runtime starts, so an open one gets a warning.
    /// </summary>
    private static void HardenApplication(Microsoft.Extensions.Logging.ILogger? logger)
    {
        HardeningStatus status = ProcessHardening.Apply();
        var problems = new List<string>(status.Problems);
        if (!status.DiagnosticsDisabled)
        {
            problems.Add("the .NET diagnostic port of this process is open (DOTNET_EnableDiagnostics is not 0): a process of the same user can dump it or load a profiler into it, and read live leases; start the application with DOTNET_EnableDiagnostics=0");
        }

        using (SecretMemory.Allocate(1))
        {
            // Maps the first arena, so that the status names the backing really in use (not "Auto").
        }

        SecretMemoryStatus memory = SecretMemory.Status;
        if (memory.Backing != SecretMemoryBacking.MemfdSecret)
        {
            problems.Add($"this application's secret memory is {memory.Backing}, not memfd_secret: a dump written by .NET's createdump (DOTNET_DbgEnableMiniDump, or a request on the diagnostic port) would contain the plaintext of a live lease (createdump ignores MADV_DONTDUMP)");
        }

        foreach (string problem in problems)
        {
            if (logger is null)
            {
                Console.Error.WriteLine($"actorvault: warning: {problem}");
            }
            else
            {
                Microsoft.Extensions.Logging.LoggerExtensions.LogWarning(logger, "ActorVault hardening: {Problem}", problem);
            }
        }
    }

    private static PreLaunchedVault PreLaunch(SupervisorSettings settings, IVaultProcessLauncher launcher)
    {
        SessionKeys keys;
        var sink = new VaultEventSink();
        using SecretBuffer bootstrap = SessionKeys.NewBootstrap();
        keys = SessionKeys.Derive(bootstrap);
        try
        {
            return new PreLaunchedVault(launcher.Launch(settings, bootstrap, sink), keys, sink);
        }
        catch
        {
            keys.Dispose();
            throw;
        }
    }

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

    /// <summary>
    /// Stops the vault: its stdin is closed (it zeroes everything and exits within a second), SIGKILL
    /// after <paramref name="grace"/> (default 5 s); then the link system terminates.
    /// </summary>
    public async Task StopAsync(TimeSpan? grace = null)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0 && _system.WhenTerminated.IsCompleted)
        {
            return;
        }

        _stopGrace = grace ?? _settings.StopGrace;
        if (_ownsSystem)
        {
            // One path for every stop: the link system's CoordinatedShutdown runs the tasks below. Its
            // service-stop phase gives up after its own timeout, which would cut a longer grace short:
            // then leases and the vault are stopped here first, and the phase finds them done.
            CoordinatedShutdown shutdown = CoordinatedShutdown.Get(_system);
            if (_stopGrace > shutdown.Timeout(CoordinatedShutdown.PhaseServiceStop))
            {
                await StopLeasesAsync().ConfigureAwait(false);
                await StopVaultAsync().ConfigureAwait(false);
            }

            await shutdown.Run(ClientStopReason.Instance).ConfigureAwait(false);
            await _system.WhenTerminated.ConfigureAwait(false);
        }
        else
        {
            await StopLeasesAsync().ConfigureAwait(false);
            await StopVaultAsync().ConfigureAwait(false);
        }

        foreach (System.Runtime.InteropServices.PosixSignalRegistration registration in _signals)
        {
            registration.Dispose();
        }

        if (_onUnhandled is not null)
        {
            AppDomain.CurrentDomain.UnhandledException -= _onUnhandled;
        }

        _publicKey?.Dispose();
    }

    private TimeSpan _stopGrace;
    private readonly Lock _stopGate = new();
    private Task? _stopVault;

    /// <summary>CoordinatedShutdown reason: <see cref="StopAsync"/> was called.</summary>
    private sealed class ClientStopReason : CoordinatedShutdown.Reason
    {
        public static readonly ClientStopReason Instance = new();

        public override int ExitCode => 0;
    }

    /// <summary>
    /// CoordinatedShutdown of the link system (run by <see cref="StopAsync"/>, by Akka on SIGTERM/SIGINT,
    /// and by this client on SIGHUP/SIGQUIT): stop granting leases and revoke the live ones (zeroed),
    /// stop the vault child gracefully, zero every remaining buffer and the session keys.
    /// </summary>
    private void RegisterShutdown(bool handleSignals)
    {
        CoordinatedShutdown shutdown = CoordinatedShutdown.Get(_system);
        shutdown.AddTask(CoordinatedShutdown.PhaseServiceRequestsDone, "actorvault-revoke-leases", async () =>
        {
            await StopLeasesAsync().ConfigureAwait(false);
            return Akka.Done.Instance;
        });
        shutdown.AddTask(CoordinatedShutdown.PhaseServiceStop, "actorvault-stop-vault", async () =>
        {
            await StopVaultAsync().ConfigureAwait(false);
            return Akka.Done.Instance;
        });
        shutdown.AddTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate, "actorvault-zero", () =>
        {
            _tracker.ZeroAll("the application shut down");
            SessionKeyRing.For(_system).Clear();
            return Task.FromResult(Akka.Done.Instance);
        });

        _onUnhandled = (_, e) =>
        {
            // The process dies: zero everything first (the emergency wipe is lock-free and allocation-free).
            int leases = _tracker.ZeroAll("unhandled exception");
            int zeroed = SecretMemory.ZeroAll("unhandled exception");
            Console.Error.WriteLine($"actorvault: unhandled {e.ExceptionObject.GetType().Name}; {leases} lease buffer(s) and {zeroed} secret buffer(s) zeroed before the process dies.");
        };
        AppDomain.CurrentDomain.UnhandledException += _onUnhandled;

        if (!handleSignals)
        {
            return;
        }

        // SIGTERM and SIGINT: Akka's hook runs CoordinatedShutdown but cancels the default exit, so a
        // process whose Main does not wait for the actor system would hang. SIGHUP and SIGQUIT would kill
        // the process with no cleanup. All four: revoke leases, CoordinatedShutdown, exit 128 + signal.
        foreach ((System.Runtime.InteropServices.PosixSignal signal, int number) in new[]
        {
            (System.Runtime.InteropServices.PosixSignal.SIGTERM, 15), (System.Runtime.InteropServices.PosixSignal.SIGINT, 2),
            (System.Runtime.InteropServices.PosixSignal.SIGHUP, 1), (System.Runtime.InteropServices.PosixSignal.SIGQUIT, 3),
        })
        {
            _signals.Add(System.Runtime.InteropServices.PosixSignalRegistration.Create(signal, context =>
            {
                context.Cancel = true;
                _tracker.EndAll(LeaseEnd.Revoked, $"signal {number}");
                _ = Task.Run(async () =>
                {
                    await CoordinatedShutdown.Get(_system).Run(new SignalReason(number)).ConfigureAwait(false);
                    await _system.WhenTerminated.ConfigureAwait(false);
                    if (Environment.GetEnvironmentVariable("ACTORVAULT_TEST_HOLD_AFTER_SHUTDOWN") == "1")
                    {
                        Console.Out.WriteLine($"ACTORVAULT-APP-SHUTDOWN-DONE signal={number}");
                        Console.Out.Flush();
                        return;
                    }

                    Environment.Exit(128 + number);
                });
            }));
        }
    }

    private Task StopLeasesAsync()
    {
        Volatile.Write(ref _shuttingDown, 1);
        Volatile.Write(ref _disposed, 1);
        int revoked = _tracker.EndAll(LeaseEnd.Revoked, "the application is shutting down");
        if (revoked > 0 && _logger is not null)
        {
            Microsoft.Extensions.Logging.LoggerExtensions.LogInformation(_logger, "Shutdown: {Count} live lease(s) revoked and zeroed.", revoked);
        }

        return Task.CompletedTask;
    }

    /// <summary>Stops the vault once: <see cref="StopAsync"/> does it before CoordinatedShutdown, whose task then finds it done.</summary>
    private Task StopVaultAsync()
    {
        lock (_stopGate)
        {
            return _stopVault ??= StopVaultOnceAsync();
        }
    }

    private async Task StopVaultOnceAsync()
    {
        if (_supervisorGone.Task.IsCompleted)
        {
            return; // its PostStop already killed the child
        }

        try
        {
            _ = await _supervisor.Ask<Stopped>(new Stop(_stopGrace), _stopGrace + TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
        {
            // The supervisor's PostStop kills the child when the system terminates in any case.
        }

        _tracker.ZeroAll("the vault client stopped");
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

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

    private PublicKeySealed Seal(ReadOnlySpan<byte> secret, string purpose, string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (secret.IsEmpty)
        {
            throw new ArgumentException("A secret cannot be empty.", nameof(secret));
        }

        Snapshot snapshot = _view.Current;
        if (snapshot.State is not (VaultState.Locked or VaultState.Unlocked) || snapshot.PublicKey.Length == 0)
        {
            throw new VaultUnavailableException($"The vault is {snapshot.State.ToString().ToLowerInvariant()}: nothing to seal the secret to ({snapshot.Reason}).", snapshot.State);
        }

        lock (_gate)
        {
            if (_publicKey is null || !_publicKey.Matches(snapshot.PublicKey))
            {
                _publicKey?.Dispose();
                _publicKey = new VaultPublicKey(snapshot.PublicKey);
            }

            return PublicKeySealing.Seal(_publicKey.Rsa, _publicKey.Fingerprint, secret, purpose, name);
        }
    }

    /// <summary>Completed when the supervisor actor is gone: every pending and later call fails at once.</summary>
    private readonly TaskCompletionSource _supervisorGone = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private int _stoppedPublished;

    private void OnSupervisorTerminated()
    {
        Snapshot last = _view.Current;
        if (last.State != VaultState.Stopped)
        {
            _view.Current = last with { State = VaultState.Stopped, Reason = "the vault supervisor stopped" };
        }

        if (Volatile.Read(ref _stoppedPublished) == 0)
        {
            // Also on the link system's event stream, like every other state change.
            _system.EventStream.Publish(new VaultStateChanged(last.State, VaultState.Stopped, "the vault supervisor stopped", last.VaultPid, last.Restarts));
        }

        _tracker.ZeroAll("the vault supervisor stopped");
        _supervisorGone.TrySetResult();
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

    private void OnStateChanged(VaultStateChanged changed)
    {
        if (changed.State == VaultState.Stopped)
        {
            Volatile.Write(ref _stoppedPublished, 1);
        }

        if (_logger is not null)
        {
            Microsoft.Extensions.Logging.LoggerExtensions.LogInformation(_logger, "Vault {Previous} -> {State}: {Reason}", changed.Previous, changed.State, changed.Reason);
        }

        StateChanged?.Invoke(this, changed);
    }

    private void OnAudit(LeaseAuditEvent audit)
    {
        Microsoft.Extensions.Logging.LogLevel level = audit.Kind is LeaseAuditKind.Granted or LeaseAuditKind.Released
            ? Microsoft.Extensions.Logging.LogLevel.Debug
            : Microsoft.Extensions.Logging.LogLevel.Information;
        Microsoft.Extensions.Logging.LoggerExtensions.Log(_logger!, level, "Lease {Kind}: {LeaseId} of '{Secret}' after {DurationMs} ms ({Reason})", audit.Kind, audit.LeaseId, audit.SecretName, audit.Duration.TotalMilliseconds, audit.Reason);
    }

    /// <summary>Lease defaults of this application, from <c>actorvault.lease</c>.</summary>
    private sealed record LeaseDefaults(TimeSpan DefaultTtl, int MaxConcurrent, TimeSpan CapacityWait)
    {
        public static LeaseDefaults Create(Config config)
        {
            var c = new Configuration.Settings(config, "actorvault.lease");
            var defaults = new LeaseDefaults(c.Time("default-ttl"), c.Int("max-concurrent"), c.Time("capacity-wait"));
            if (defaults.DefaultTtl <= TimeSpan.Zero || defaults.MaxConcurrent < 1 || defaults.CapacityWait < TimeSpan.Zero)
            {
                throw new ConfigurationException("actorvault.lease: default-ttl must be positive, max-concurrent ≥ 1, capacity-wait ≥ 0.");
            }

            return defaults;
        }
    }

    /// <summary>The vault's RSA public key, imported once per keypair.</summary>
    private sealed class VaultPublicKey : IDisposable
    {
        private readonly byte[] _spki;

        public VaultPublicKey(byte[] spki)
        {
            _spki = spki;
            Rsa = RSA.Create();
            Rsa.ImportSubjectPublicKeyInfo(spki, out _);
            Fingerprint = PublicKeySealing.Fingerprint(spki);
        }

        public RSA Rsa { get; }

        public byte[] Fingerprint { get; }

        public bool Matches(byte[] spki) => _spki.AsSpan().SequenceEqual(spki);

        public void Dispose() => Rsa.Dispose();
    }

    private sealed class StateListener : ReceiveActor
    {
        public StateListener(VaultClient client, IActorRef supervisor)
        {
            // However the supervisor ends (stopped, or a failure its parent did not restart), the facade knows at once.
            Context.Watch(supervisor);
            Receive<VaultStateChanged>(client.OnStateChanged);
            Receive<LeaseAuditEvent>(client.OnAudit);
            Receive<Terminated>(t => t.ActorRef.Equals(supervisor), _ => client.OnSupervisorTerminated());
        }
    }
}
