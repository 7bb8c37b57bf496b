using Akka.Actor;
using Akka.Hosting;
using ActorVault.Hosting;
using ActorVault.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace ActorVault.IntegrationTests;

/// <summary>ActorVault embedded in a Generic Host application with Akka.Hosting.</summary>
public sealed class HostingTests
{
    [Fact]
    public async Task WithActorVault_StartsWithTheHost_IVaultInDI_StopsWithTheHost()
    {
        HostApplicationBuilder builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Services.AddAkka("app", akka => akka.WithActorVault(o => o.MaxConcurrentLeases = 4));
        builder.Services.AddActorVault();
        using IHost host = builder.Build();
        await host.StartAsync();

        ActorVaultHolder holder = host.Services.GetRequiredService<ActorVaultHolder>();
        VaultClient started = await holder.WhenStarted.WaitAsync(TimeSpan.FromSeconds(60));
        IVault vault = host.Services.GetRequiredService<IVault>();
        Assert.Equal(started.VaultPid, (await vault.GetStatusAsync()).VaultPid); // the started vault, behind the injection-safe front


        await vault.SetSecretAsync("db", "hosted secret"u8.ToArray().AsSpan());
        Assert.Equal(13, await vault.WithSecretAsync("db", static s => s.Length));
        int vaultPid = started.VaultPid;

        await host.StopAsync();
        Assert.NotNull(ProcessExit.Wait(vaultPid, TimeSpan.FromSeconds(30)));
        Assert.Equal(VaultState.Stopped, vault.State);
    }
}
