using Akka.Actor;
using Akka.Configuration;
using ActorVault.Client;
using ActorVault.Configuration;
using ActorVault.Crypto;
using ActorVault.Memory;
using static ActorVault.Client.SupervisorProtocol;

namespace ActorVault;

// VaultClient, part: The composition root: options and configuration to settings, the hardened process, the vault child started ahead of the link system, the supervisor.
public sealed partial class VaultClient
{
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

        // One logger (options.Logger) for everything, or a category per component from a factory.
        Microsoft.Extensions.Logging.ILogger? Category(string name) =>
            options.Logger is { } one ? Logging.RedactingLogger.ForLogger(one)
            : options.LoggerFactory is { } factory ? Logging.RedactingLogger.ForLogger(factory.CreateLogger(name))
            : null;
        Microsoft.Extensions.Logging.ILogger? logger = Category("ActorVault.Supervisor");
        Microsoft.Extensions.Logging.ILogger? auditLogger = Category("ActorVault.Audit");
        Microsoft.Extensions.Logging.ILogger? vaultLogger = Category("ActorVault.Vault");
        Action<string>? vaultLog = options.VaultLog ?? (vaultLogger is null ? null : line => Logging.VaultLogLines.Log(vaultLogger, line));
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
        SupervisorSettings settings;
        LeaseDefaults leaseDefaults;
        try
        {
            settings = SupervisorSettings.Create(settingsConfig) with
            {
                Sockets = sockets,
                Instruments = options.MeterFactory is { } meters ? new LeaseInstruments(meters) : VaultMetrics.Shared,
            };
            leaseDefaults = LeaseDefaults.Create(settingsConfig);
        }
        catch (ConfigurationException e)
        {
            // Before anything starts, in the options' names (and the key, for a value from HOCON).
            throw new ConfigurationException(VaultClientOptions.InOptionNames(e.Message), e);
        }

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
            var client = new VaultClient(system, ownsSystem: true, supervisor, tracker, settings, view, leaseDefaults, logger, auditLogger);
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
}
