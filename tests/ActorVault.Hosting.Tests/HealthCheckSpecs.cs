using ActorVault.TestKit;
using ActorVault.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace ActorVault.Hosting.Tests;

/// <summary>The health check without a started vault (no actor system at all).</summary>
public sealed class HealthCheckSpecs
{
    [Fact]
    public async Task HealthCheck_VaultNeverStarted_UnhealthyWithState()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddActorVault();
        services.AddHealthChecks().AddActorVault();
        await using ServiceProvider provider = services.BuildServiceProvider();

        HealthReport report = await provider.GetRequiredService<HealthCheckService>().CheckHealthAsync(TestContext.Current.CancellationToken);

        HealthReportEntry entry = report.Entries["actorvault"];
        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.Equal("NotStarted", entry.Data[ActorVaultHealthCheck.StateKey]);
    }

    [Fact]
    public async Task HealthCheck_CustomNameAndFailureStatus_Used()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddActorVault();
        services.AddHealthChecks().AddActorVault("secrets", HealthStatus.Degraded, ["vault"]);
        await using ServiceProvider provider = services.BuildServiceProvider();

        HealthReport report = await provider.GetRequiredService<HealthCheckService>().CheckHealthAsync(TestContext.Current.CancellationToken);

        HealthReportEntry entry = Assert.Single(report.Entries, e => e.Key == "secrets").Value;
        Assert.Equal(HealthStatus.Degraded, entry.Status);
        Assert.Contains("vault", entry.Tags);
    }
}

/// <summary>The health check on the TestKit's TestVault (AddTestVault): the same states, no child process.</summary>
public sealed class TestVaultHealthCheckSpecs
{
    [Fact]
    public async Task HealthCheck_OnATestVault_DegradedWhileLocked_HealthyOnceUnlocked_FailureWhenStopped()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddTestVault();
        services.AddHealthChecks().AddActorVault();
        await using ServiceProvider provider = services.BuildServiceProvider();
        HealthCheckService health = provider.GetRequiredService<HealthCheckService>();
        CancellationToken cancel = TestContext.Current.CancellationToken;

        Assert.Equal(HealthStatus.Degraded, (await health.CheckHealthAsync(cancel)).Entries["actorvault"].Status);

        TestKit.TestVault vault = provider.GetRequiredService<TestKit.TestVault>();
        Assert.Same(vault, provider.GetRequiredService<IVault>());
        await vault.SetSecretAsync("db", "x"u8.ToArray().AsSpan(), cancel);
        HealthReportEntry unlocked = (await health.CheckHealthAsync(cancel)).Entries["actorvault"];
        Assert.Equal((HealthStatus.Healthy, "Unlocked"), (unlocked.Status, unlocked.Data[ActorVaultHealthCheck.StateKey]));

        await vault.StopAsync();
        Assert.Equal(HealthStatus.Unhealthy, (await health.CheckHealthAsync(cancel)).Entries["actorvault"].Status);
    }
}

/// <summary>The check through Akka.Hosting's own health-check API, beside its liveness check and tagged like it.</summary>
public sealed class AkkaHealthCheckSpecs : VaultHostingSpec
{
    protected override void ConfigureVault(Akka.Hosting.AkkaConfigurationBuilder builder) =>
        Akka.Hosting.AkkaHostingExtensions.WithActorSystemLivenessCheck(builder.WithActorVault().WithActorVaultHealthCheck("actorvault-akka"));

    [Fact]
    public async Task WithActorVaultHealthCheck_ReportsTheVault_TaggedLikeAkkasOwnChecks()
    {
        VaultClient vault = await StartedVaultAsync();
        HealthCheckService health = Host.Services.GetRequiredService<HealthCheckService>();

        HealthReport locked = await health.CheckHealthAsync(Cancel);
        HealthReportEntry ours = locked.Entries["actorvault-akka"];
        Assert.Equal(HealthStatus.Degraded, ours.Status);
        HealthReportEntry liveness = Assert.Single(locked.Entries, e => e.Key != "actorvault-akka" && e.Key != "actorvault").Value;
        Assert.NotEmpty(liveness.Tags.Intersect(ours.Tags)); // Akka's tag, so a filter on it selects both
        Assert.Contains("actorvault", ours.Tags);

        await vault.SetSecretAsync("db", "ok"u8.ToArray().AsSpan(), Cancel);
        HealthReportEntry unlocked = (await health.CheckHealthAsync(Cancel)).Entries["actorvault-akka"];
        Assert.Equal((HealthStatus.Healthy, "Unlocked"), (unlocked.Status, unlocked.Data[ActorVaultHealthCheck.StateKey]));
    }
}
