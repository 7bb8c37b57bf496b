using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace ActorVault.Hosting;

/// <summary>
/// Health of the application's <see cref="IVault"/> (the vault started by <c>WithActorVault</c>, or a
/// TestKit <c>TestVault</c> registered with <c>AddTestVault</c>): <see cref="HealthStatus.Healthy"/> when it is
/// unlocked (holds a secret), <see cref="HealthStatus.Degraded"/> while it is locked, starting or
/// restarting, and the registration's failure status (default <see cref="HealthStatus.Unhealthy"/>)
/// when it is stopped, failed to start, or has not been started. The data holds the state, the
/// vault's process id and its restart count — never a secret byte.
/// </summary>
public sealed class ActorVaultHealthCheck : IHealthCheck
{
    /// <summary>Key of the vault's state (<see cref="VaultState"/> name) in <see cref="HealthCheckResult.Data"/>.</summary>
    public const string StateKey = "state";

    /// <summary>Key of the vault process id in <see cref="HealthCheckResult.Data"/> (0 while none runs).</summary>
    public const string PidKey = "vaultPid";

    private readonly IVault _vault;

    /// <summary>Creates the check over the application's vault (<c>services.AddActorVault()</c> or <c>AddTestVault()</c>).</summary>
    public ActorVaultHealthCheck(IVault vault)
    {
        ArgumentNullException.ThrowIfNull(vault);
        _vault = vault;
    }

    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        return Task.FromResult(Evaluate(_vault, context.Registration.FailureStatus));
    }

    /// <summary>The check itself, shared by this <see cref="IHealthCheck"/> and the Akka.Hosting registration (<c>WithActorVaultHealthCheck</c>).</summary>
    internal static HealthCheckResult Evaluate(IVault vault, HealthStatus failure)
    {
        if (vault is DeferredVault deferred)
        {
            Task<VaultClient> started = deferred.Holder.WhenStarted;
            if (started.IsFaulted)
            {
                return new HealthCheckResult(failure, "ActorVault failed to start.", started.Exception?.GetBaseException(), Data("NotStarted", 0));
            }

            if (!started.IsCompletedSuccessfully)
            {
                return new HealthCheckResult(failure, "ActorVault is not started yet (the application's actor system starts it).", null, Data("NotStarted", 0));
            }

            vault = started.Result;
        }

        VaultState state = vault.State;
        IReadOnlyDictionary<string, object> data = Data(state.ToString(), vault is VaultClient client ? client.VaultPid : 0);
        HealthCheckResult result = state switch
        {
            VaultState.Unlocked => HealthCheckResult.Healthy("ActorVault is unlocked.", data),
            VaultState.Locked => HealthCheckResult.Degraded("ActorVault is locked: no secret has been entered (again) yet.", null, data),
            VaultState.Starting => HealthCheckResult.Degraded("ActorVault is starting.", null, data),
            VaultState.Restarting => HealthCheckResult.Degraded("ActorVault's vault process died and is being restarted; it will come back locked.", null, data),
            _ => new HealthCheckResult(failure, "ActorVault is stopped.", null, data),
        };
        return result;
    }

    private static Dictionary<string, object> Data(string state, int pid) => new(StringComparer.Ordinal)
    {
        [StateKey] = state,
        [PidKey] = pid,
    };
}

/// <summary>Registers <see cref="ActorVaultHealthCheck"/>: <c>services.AddHealthChecks().AddActorVault()</c>, or with Akka.Hosting's health checks, <c>WithActorVaultHealthCheck()</c>.</summary>
public static class ActorVaultHealthCheckExtensions
{
    /// <summary>The tags of <see cref="WithActorVaultHealthCheck"/> by default: Akka.Hosting's own <c>akka</c> tag, and <c>actorvault</c>.</summary>
    public static readonly IReadOnlyList<string> DefaultAkkaTags = ["akka", "actorvault"];

    /// <summary>
    /// The same check through Akka.Hosting's health-check API (<c>AkkaConfigurationBuilder.WithHealthCheck</c>),
    /// beside its other Akka checks (<c>WithActorSystemLivenessCheck</c>, …) and tagged like them
    /// (<see cref="DefaultAkkaTags"/>). Needs an <see cref="IVault"/> in the container (<c>AddActorVault()</c>).
    /// </summary>
    public static Akka.Hosting.AkkaConfigurationBuilder WithActorVaultHealthCheck(this Akka.Hosting.AkkaConfigurationBuilder builder, string name = "actorvault", HealthStatus? failureStatus = null, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        HealthStatus failure = failureStatus ?? HealthStatus.Unhealthy;
        return Akka.Hosting.AkkaHostingExtensions.WithHealthCheck(
            builder,
            name,
            (system, _, _) =>
            {
                IVault? vault = Akka.DependencyInjection.DependencyResolver.For(system).Resolver.GetService<IVault>();
                return Task.FromResult(vault is null
                    ? new HealthCheckResult(failure, "No IVault is registered (services.AddActorVault()).")
                    : ActorVaultHealthCheck.Evaluate(vault, failure));
            },
            failureStatus,
            tags ?? DefaultAkkaTags);
    }

    /// <summary>
    /// Adds the ActorVault health check (Healthy when unlocked, Degraded when locked, starting or
    /// restarting, <paramref name="failureStatus"/> — default Unhealthy — when stopped or not started).
    /// Needs an <see cref="IVault"/> in the container: <c>services.AddActorVault()</c>, or in tests <c>services.AddTestVault()</c>.
    /// </summary>
    public static IHealthChecksBuilder AddActorVault(this IHealthChecksBuilder builder, string name = "actorvault", HealthStatus? failureStatus = null, IEnumerable<string>? tags = null, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(name);
        return builder.Add(new HealthCheckRegistration(
            name,
            sp => new ActorVaultHealthCheck(sp.GetRequiredService<IVault>()),
            failureStatus,
            tags,
            timeout));
    }
}
