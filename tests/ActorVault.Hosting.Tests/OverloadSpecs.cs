using Microsoft.Extensions.Configuration;
using Akka.Configuration;
using Akka.Hosting;
using ActorVault.Hosting;

namespace ActorVault.Hosting.Tests;

/// <summary>WithActorVault(executablePath, rsaBits, maxConcurrentLeases, defaultLeaseTtl): the arguments overload.</summary>
public sealed class ArgumentsOverloadSpecs : VaultHostingSpec
{
    protected override void ConfigureVault(AkkaConfigurationBuilder builder) =>
        builder.WithActorVault(rsaBits: 3072, defaultLeaseTtl: TimeSpan.FromSeconds(1));

    [Fact]
    public async Task ArgumentsOverload_RsaBitsAndDefaultLeaseTtl_Honored()
    {
        VaultClient vault = await StartedVaultAsync();
        Assert.Equal(3072, (await vault.GetStatusAsync(Cancel)).KeyBits);

        await vault.SetSecretAsync("db", "ttl"u8.ToArray().AsSpan(), Cancel);
        TimeSpan granted = TimeSpan.Zero;
        Exception? afterEnd = null;
        await Assert.ThrowsAsync<LeaseExpiredException>(() => vault.WithSecretAsync("db", async lease =>
        {
            var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (lease.Ended.Register(() => ended.TrySetResult()))
            {
                await ended.Task.WaitAsync(Patience, Cancel); // the default deadline is 30 s: 1 s must come first
            }

            granted = lease.Deadline - lease.GrantedAt;
            afterEnd = Record.Exception(() => lease.Bytes.Length);
            return 0;
        }, cancellationToken: Cancel));

        Assert.InRange(granted, TimeSpan.FromMilliseconds(900), TimeSpan.FromSeconds(2));
        Assert.IsType<LeaseExpiredException>(afterEnd);

        Config section = Sys.Settings.Config.GetConfig("actorvault");
        Assert.Equal(3072, section.GetInt("supervisor.rsa-bits"));
        Assert.Equal(TimeSpan.FromSeconds(1), section.GetTimeSpan("lease.default-ttl"));
        Assert.False(section.HasPath("lease.max-concurrent"));
    }
}

/// <summary>WithActorVault(VaultClientOptions): the options-object overload.</summary>
public sealed class OptionsOverloadSpecs : VaultHostingSpec
{
    protected override void ConfigureVault(AkkaConfigurationBuilder builder) =>
        builder.WithActorVault(new VaultClientOptions { MaxConcurrentLeases = 2, LeaseCapacityWait = TimeSpan.Zero, DefaultLeaseTtl = TimeSpan.FromSeconds(20) });

    [Fact]
    public async Task OptionsOverload_MaxConcurrentLeasesTwo_ThirdLeaseRefused_TtlApplied()
    {
        VaultClient vault = await StartedVaultAsync();
        await vault.SetSecretAsync("db", "two"u8.ToArray().AsSpan(), Cancel);

        foreach (TimeSpan ttl in await TwoLeasesHeld_AThirdRefusedAsync(vault))
        {
            Assert.InRange(ttl, TimeSpan.FromSeconds(19), TimeSpan.FromSeconds(21));
        }

        Config section = Sys.Settings.Config.GetConfig("actorvault");
        Assert.Equal(2, section.GetInt("lease.max-concurrent"));
        Assert.Equal(TimeSpan.FromSeconds(20), section.GetTimeSpan("lease.default-ttl"));
        Assert.False(section.HasPath("supervisor.rsa-bits"));
    }
}

/// <summary>The application's own <c>actorvault.*</c> HOCON is honoured, below options set in code.</summary>
public sealed class ApplicationHoconSpecs : VaultHostingSpec
{
    protected override void ConfigureVault(AkkaConfigurationBuilder builder) =>
        builder
            .AddHocon(
                """
                actorvault.supervisor.rsa-bits = 3072
                actorvault.lease.default-ttl = 1500ms
                actorvault.lease.max-concurrent = 1
                actorvault.lease.capacity-wait = 0s
                """,
                HoconAddMode.Append)
            .WithActorVault(o => o.MaxConcurrentLeases = 2); // code wins over the application's HOCON

    [Fact]
    public async Task ApplicationHocon_RsaBitsAndLeaseDefaults_Honoured_OptionsInCodeWin()
    {
        VaultClient vault = await StartedVaultAsync();
        Assert.Equal(3072, (await vault.GetStatusAsync(Cancel)).KeyBits);

        await vault.SetSecretAsync("db", "hocon"u8.ToArray().AsSpan(), Cancel);
        // Two at once (max-concurrent = 2 from code, not 1 from HOCON); a third fails at once (capacity-wait 0s from HOCON).
        foreach (TimeSpan ttl in await TwoLeasesHeld_AThirdRefusedAsync(vault))
        {
            Assert.Equal(TimeSpan.FromMilliseconds(1500), ttl); // default-ttl from HOCON
        }
    }
}

/// <summary>Options bound from Microsoft.Extensions.Configuration (appsettings.json shape), used by WithActorVault(provider).</summary>
public sealed class BoundOptionsSpecs : VaultHostingSpec
{
    protected override void ConfigureServices(Microsoft.Extensions.Hosting.HostBuilderContext context, Microsoft.Extensions.DependencyInjection.IServiceCollection services)
    {
        base.ConfigureServices(context, services);
        Microsoft.Extensions.Configuration.IConfiguration configuration = new Microsoft.Extensions.Configuration.ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["ActorVault:RsaBits"] = "3072", ["ActorVault:DefaultLeaseTtl"] = "00:00:01.5" })
            .Build();
        services.AddActorVault(configuration.GetSection("ActorVault"));
    }

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) =>
        builder.WithActorVault(provider, o => o.MaxConcurrentLeases = 4);

    protected override void ConfigureVault(AkkaConfigurationBuilder builder) => throw new InvalidOperationException("not used");

    [Fact]
    public async Task BoundFromConfiguration_RsaBitsAndDefaultTtl_Honoured()
    {
        VaultClient vault = await StartedVaultAsync();
        Assert.Equal(3072, (await vault.GetStatusAsync(Cancel)).KeyBits);
        await vault.SetSecretAsync("db", "bound"u8.ToArray().AsSpan(), Cancel);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), await vault.WithSecretAsync("db", static lease => ValueTask.FromResult(lease.Deadline - lease.GrantedAt), cancellationToken: Cancel));
        Config section = Sys.Settings.Config.GetConfig("actorvault");
        Assert.Equal(4, section.GetInt("lease.max-concurrent"));
    }
}

/// <summary>The vault's state changes and audit trail also reach the application's own event stream.</summary>
public sealed class ApplicationEventStreamSpecs : VaultHostingSpec
{
    protected override void ConfigureVault(AkkaConfigurationBuilder builder) => builder.WithActorVault();

    [Fact]
    public async Task StateChangesAndAuditEvents_ArePublishedOnTheApplicationsEventStream()
    {
        VaultClient vault = await StartedVaultAsync();
        Akka.TestKit.TestProbe probe = CreateTestProbe();
        Sys.EventStream.Subscribe(probe.Ref, typeof(VaultStateChanged));
        Sys.EventStream.Subscribe(probe.Ref, typeof(LeaseAuditEvent));

        await vault.SetSecretAsync("db", "events"u8.ToArray().AsSpan(), Cancel);
        probe.FishForMessage(m => m is VaultStateChanged { State: VaultState.Unlocked }, Patience, cancellationToken: Cancel);
        Assert.Equal(6, await vault.WithSecretAsync("db", static b => b.Length, cancellationToken: Cancel));
        probe.FishForMessage(m => m is LeaseAuditEvent { Kind: LeaseAuditKind.Released, SecretName: "db" }, Patience, cancellationToken: Cancel);
    }
}
