using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace ActorVault.Hosting;

/// <summary>
/// Holds the <see cref="VaultClient"/> that <see cref="ActorVaultHostingExtensions.WithActorVault(AkkaConfigurationBuilder, VaultClientOptions)"/>
/// started with the application's actor system; <c>services.AddActorVault()</c> exposes it as <see cref="IVault"/>.
/// </summary>
public sealed class ActorVaultHolder
{
    private readonly TaskCompletionSource<VaultClient> _client = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The started vault; throws until the actor system has started it.</summary>
    public VaultClient Client => _client.Task.IsCompletedSuccessfully
        ? _client.Task.Result
        : throw new InvalidOperationException("ActorVault is not started yet: the application's actor system starts it (WithActorVault) when the host starts.");

    /// <summary>Completes when the vault is started.</summary>
    public Task<VaultClient> WhenStarted => _client.Task;

    /// <summary>How long a call on the injected <see cref="IVault"/> waits for the start: the vault's start timeout, and then some.</summary>
    internal TimeSpan StartTimeout { get; set; } = DefaultStartTimeout(null);

    internal static TimeSpan DefaultStartTimeout(TimeSpan? configured) =>
        (configured ?? new Configuration.Settings(Configuration.ActorVaultConfig.Link, "actorvault.supervisor").Time("startup-timeout")) + TimeSpan.FromSeconds(15);

    internal void Started(VaultClient client) => _client.TrySetResult(client);

    internal void Failed(Exception e) => _client.TrySetException(e);
}

/// <summary>Akka.Hosting integration: <c>services.AddAkka("app", b => b.WithActorVault(o => …)); services.AddActorVault();</c>.</summary>
public static class ActorVaultHostingExtensions
{
    /// <summary>Starts the vault with the application's actor system (see <see cref="VaultClientOptions"/>; null properties keep the defaults).</summary>
    public static AkkaConfigurationBuilder WithActorVault(this AkkaConfigurationBuilder builder, Action<VaultClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        var options = new VaultClientOptions();
        configure(options);
        return builder.WithActorVault(options);
    }

    /// <summary>Starts the vault with the application's actor system, with common settings as arguments.</summary>
    public static AkkaConfigurationBuilder WithActorVault(this AkkaConfigurationBuilder builder, string? executablePath = null, int? rsaBits = null, int? maxConcurrentLeases = null, TimeSpan? defaultLeaseTtl = null) =>
        builder.WithActorVault(new VaultClientOptions { ExecutablePath = executablePath, RsaBits = rsaBits, MaxConcurrentLeases = maxConcurrentLeases, DefaultLeaseTtl = defaultLeaseTtl });

    /// <summary>
    /// Starts the vault with the application's actor system: the vault link is its own loopback-only
    /// system, so the application keeps its own transport; the application's CoordinatedShutdown stops
    /// the vault. Actors reach the vault through <see cref="IVault"/> (dependency injection); the
    /// supervisor actor speaks only an internal protocol, so it is not in the actor registry.
    /// The options that are set are also prepended (<see cref="HoconAddMode.Prepend"/>) to the
    /// application's HOCON as an <c>actorvault { … }</c> section, so its config shows what the vault runs with.
    /// </summary>
    public static AkkaConfigurationBuilder WithActorVault(this AkkaConfigurationBuilder builder, VaultClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        // The application owns the process's signals (its own actor system handles them).
        options.HandleSignals ??= false;
        string hocon = options.ToHocon();
        if (hocon.Length > 0)
        {
            builder.AddHocon(hocon, HoconAddMode.Prepend);
        }

        return builder.AddStartup(async (system, registry) =>
        {
            // The holder that services.AddActorVault() registered, if any (Akka.Hosting wires the host's
            // service provider into Akka.DependencyInjection).
            ActorVaultHolder? holder = Akka.DependencyInjection.DependencyResolver.For(system).Resolver.GetService<ActorVaultHolder>();
            if (holder is not null)
            {
                holder.StartTimeout = ActorVaultHolder.DefaultStartTimeout(options.StartupTimeout);
            }

            // The application's logger factory (categories per component), unless the options name a logger.
            if (options.Logger is null)
            {
                options.LoggerFactory ??= Akka.DependencyInjection.DependencyResolver.For(system).Resolver.GetService<Microsoft.Extensions.Logging.ILoggerFactory>();
            }

            // The application's meter factory (AddMetrics / OpenTelemetry), unless the options name one.
            options.MeterFactory ??= Akka.DependencyInjection.DependencyResolver.For(system).Resolver.GetService<System.Diagnostics.Metrics.IMeterFactory>();

            try
            {
                // The application's own actorvault.* HOCON counts too (the options above were prepended to it).
                VaultClient client = await VaultClient.StartAsync(system.Settings.Config, options).ConfigureAwait(false);
                // State changes and the audit trail on the application's own event stream too.
                IActorRef forwarder = client.LinkSystem.ActorOf(Props.Create(() => new EventForwarder(system.EventStream)).WithDeploy(Deploy.Local), "app-event-forwarder");
                client.LinkSystem.EventStream.Subscribe(forwarder, typeof(VaultStateChanged));
                client.LinkSystem.EventStream.Subscribe(forwarder, typeof(LeaseAuditEvent));
                CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseServiceStop, "actorvault-stop", async () =>
                {
                    await client.StopAsync().ConfigureAwait(false);
                    return Akka.Done.Instance;
                });
                holder?.Started(client);
            }
            catch (Exception e)
            {
                holder?.Failed(e);
                throw;
            }
        });
    }

    /// <summary>
    /// Registers <see cref="IVault"/> (and the <see cref="ActorVaultHolder"/>) for a vault started by
    /// <c>WithActorVault</c>. The injected <see cref="IVault"/> is safe to take in any constructor, before
    /// the vault is up: its <see cref="IVault.State"/> is <see cref="VaultState.Starting"/> until then, and
    /// a call waits for the start (bounded by the start timeout) or fails with a clear exception.
    /// </summary>
    public static IServiceCollection AddActorVault(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton<ActorVaultHolder>();
        services.AddSingleton<IVault>(sp => new DeferredVault(sp.GetRequiredService<ActorVaultHolder>()));
        return services;
    }
}

/// <summary>Republishes the vault link's state changes and audit events on the application's event stream.</summary>
internal sealed class EventForwarder : ReceiveActor
{
    public EventForwarder(Akka.Event.EventStream application)
    {
        Receive<VaultStateChanged>(e => application.Publish(e));
        Receive<LeaseAuditEvent>(e => application.Publish(e));
    }
}
