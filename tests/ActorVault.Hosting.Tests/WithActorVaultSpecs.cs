using System.Security.Cryptography;
using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Remote.Hosting;
using ActorVault.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace ActorVault.Hosting.Tests;

/// <summary>
/// WithActorVault(Action&lt;VaultClientOptions&gt;) in an application that also runs its own Akka.Remote
/// (Akka.Remote.Hosting's WithRemoting on 127.0.0.1, port 0).
/// </summary>
public sealed class WithActorVaultSpecs : VaultHostingSpec
{
    protected override void ConfigureVault(AkkaConfigurationBuilder builder) => builder
        .WithRemoting("127.0.0.1", 0)
        .WithActorVault(o =>
        {
            o.MaxConcurrentLeases = 1;
            o.LeaseCapacityWait = TimeSpan.Zero;
        });

    [Fact]
    public async Task WithActorVault_IVaultInDI_LeaseGivesTheSecretBack()
    {
        VaultClient started = await StartedVaultAsync();


        // The injected IVault is the started vault's front (safe to inject before the start: InjectedVaultSpecs).
        IVault vault = Host.Services.GetRequiredService<IVault>();
        Assert.Equal(started.State, vault.State);
        Assert.Equal(started.VaultPid, (await vault.GetStatusAsync(Cancel)).VaultPid);

        byte[] secret = RandomNumberGenerator.GetBytes(48);
        byte[] expected = SHA256.HashData(secret);
        await vault.SetSecretAsync("db", secret.AsSpan(), Cancel);
        Assert.All(secret, b => Assert.Equal(0, b)); // the caller's copy is zeroed at once

        byte[] leased = await vault.WithSecretAsync("db", static bytes => SHA256.HashData(bytes), cancellationToken: Cancel);
        Assert.Equal(expected, leased);
    }

    [Fact]
    public async Task HealthCheck_LockedThenUnlockedThenStopped_DegradedHealthyUnhealthy()
    {
        VaultClient vault = await StartedVaultAsync();
        HealthCheckService health = Host.Services.GetRequiredService<HealthCheckService>();

        HealthReportEntry locked = (await health.CheckHealthAsync(Cancel)).Entries["actorvault"];
        Assert.Equal(HealthStatus.Degraded, locked.Status);
        Assert.Equal(nameof(VaultState.Locked), locked.Data[ActorVaultHealthCheck.StateKey]);
        Assert.Equal(vault.VaultPid, locked.Data[ActorVaultHealthCheck.PidKey]);
        Assert.NotEqual(0, vault.VaultPid);

        byte[] secret = "correct horse battery staple"u8.ToArray();
        await vault.SetSecretAsync("main", secret.AsSpan(), Cancel);
        await WaitForStateAsync(vault, VaultState.Unlocked);
        HealthReportEntry unlocked = (await health.CheckHealthAsync(Cancel)).Entries["actorvault"];
        Assert.Equal(HealthStatus.Healthy, unlocked.Status);
        Assert.Equal(nameof(VaultState.Unlocked), unlocked.Data[ActorVaultHealthCheck.StateKey]);
        Assert.DoesNotContain(unlocked.Data.Values, v => v is byte[] || (v as string)?.Contains("horse", StringComparison.Ordinal) == true);

        await vault.StopAsync();
        await WaitForStateAsync(vault, VaultState.Stopped);
        HealthReport stopped = await health.CheckHealthAsync(Cancel);
        Assert.Equal(HealthStatus.Unhealthy, stopped.Entries["actorvault"].Status);
        Assert.Equal(HealthStatus.Unhealthy, stopped.Status);
    }

    [Fact]
    public async Task ActionOverload_MaxConcurrentLeasesOne_SecondLeaseRefused()
    {
        VaultClient vault = await StartedVaultAsync();
        await vault.SetSecretAsync("db", "x"u8.ToArray().AsSpan(), Cancel);

        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<int> first = vault.WithSecretAsync("db", async lease =>
        {
            holding.TrySetResult();
            await release.Task;
            return lease.Length;
        }, cancellationToken: Cancel);
        await holding.Task.WaitAsync(Patience, Cancel);

        await Assert.ThrowsAsync<LeaseCapacityException>(() => vault.WithSecretAsync("db", static b => b.Length, cancellationToken: Cancel));

        release.TrySetResult();
        Assert.Equal(1, await first.WaitAsync(Patience, Cancel));
        Assert.Equal(1, await vault.WithSecretAsync("db", static b => b.Length, cancellationToken: Cancel));
    }

    [Fact]
    public async Task WithActorVault_PrependsOnlyTheOptionsThatAreSet_ToTheApplicationsConfig()
    {
        await StartedVaultAsync();
        Config section = Sys.Settings.Config.GetConfig("actorvault");
        Assert.NotNull(section);
        Assert.Equal(1, section.GetInt("lease.max-concurrent"));
        Assert.Equal(TimeSpan.Zero, section.GetTimeSpan("lease.capacity-wait"));
        Assert.False(section.HasPath("lease.default-ttl"));
        Assert.False(section.HasPath("supervisor.rsa-bits"));
        Assert.False(section.HasPath("supervisor.executable"));
    }

    [Fact]
    public async Task ApplicationsOwnRemoting_KeepsItsAddressAndWorks_AlongsideTheVaultLink()
    {
        VaultClient vault = await StartedVaultAsync();
        Address app = ((ExtendedActorSystem)Sys).Provider.DefaultAddress;
        Address link = ((ExtendedActorSystem)vault.LinkSystem).Provider.DefaultAddress;
        Assert.Equal("akka.tcp", app.Protocol);
        Assert.Equal("app", app.System);
        Assert.Equal("127.0.0.1", app.Host);
        Assert.True(app.Port > 0);
        Assert.NotEqual(link, app);
        Assert.NotEqual(app.Port, link.Port);

        // The application's transport carries its own messages: a peer system asks an actor of "app".
        Sys.ActorOf(Props.Create(() => new Echo()), "echo");
        using ActorSystem peer = ActorSystem.Create("peer", ConfigurationFactory.ParseString("""
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0 }
            akka.loglevel = WARNING
            """));
        try
        {
            IActorRef remoteEcho = await peer.ActorSelection($"{app}/user/echo").ResolveOne(Patience, Cancel);
            Assert.Equal("pong", await remoteEcho.Ask<string>("ping", Patience, Cancel));
        }
        finally
        {
            await peer.Terminate();
        }

        Assert.Equal(app, ((ExtendedActorSystem)Sys).Provider.DefaultAddress);
        await vault.SetSecretAsync("db", "still leasing"u8.ToArray().AsSpan(), Cancel);
        Assert.Equal(13, await vault.WithSecretAsync("db", static b => b.Length, cancellationToken: Cancel));
    }

    [Fact]
    public async Task CoordinatedShutdownOfTheApplication_StopsTheVaultProcess()
    {
        VaultClient vault = await StartedVaultAsync();
        using System.Diagnostics.Process? child = FindProcess(vault.VaultPid);
        Assert.NotNull(child);
        Assert.False(child.HasExited);

        await CoordinatedShutdown.Get(Sys).Run(CoordinatedShutdown.ClrExitReason.Instance).WaitAsync(Patience, Cancel);

        Assert.True(await ProcessExitsAsync(child), $"the vault process {vault.VaultPid} still runs after the application's CoordinatedShutdown");
        await WaitForStateAsync(vault, VaultState.Stopped);
    }

    private sealed class Echo : ReceiveActor
    {
        public Echo() => Receive<string>(s => Sender.Tell(s == "ping" ? "pong" : s));
    }
}
