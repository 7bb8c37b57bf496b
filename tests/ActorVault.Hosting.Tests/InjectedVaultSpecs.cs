using ActorVault.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace ActorVault.Hosting.Tests;

/// <summary>
/// The IVault that AddActorVault registers is safe to inject before the vault is up: resolving it never
/// throws, calls made early wait for the start (then run on the real vault) or fail with a clear
/// exception when it never comes.
/// </summary>
public sealed class InjectedVaultSpecs
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ResolvedBeforeTheStart_CallsWaitForIt_ASecretGivenEarlyIsZeroedAtOnceAndSetLater()
    {
        var services = new ServiceCollection();
        services.AddActorVault();
        await using ServiceProvider provider = services.BuildServiceProvider();

        // What a constructor does: resolve IVault while nothing is started (this used to throw and crash the host).
        IVault vault = provider.GetRequiredService<IVault>();
        Assert.Equal(VaultState.Starting, vault.State);
        var locked = new TaskCompletionSource<object?>(TaskCreationOptions.RunContinuationsAsynchronously);
        vault.StateChanged += (sender, e) =>
        {
            if (e.State == VaultState.Locked && e.Previous == VaultState.Unlocked)
            {
                locked.TrySetResult(sender);
            }
        };

        byte[] early = "given before the start"u8.ToArray();
        Task set = vault.SetSecretAsync("db", early.AsSpan(), Cancel);
        Assert.All(early, b => Assert.Equal(0, b)); // zeroed before the call returned, as always
        Task<VaultStatus> status = vault.GetStatusAsync(Cancel);
        Assert.False(set.IsCompleted || status.IsCompleted);

        await using VaultClient client = await VaultClient.StartAsync(cancellationToken: Cancel);
        provider.GetRequiredService<ActorVaultHolder>().Started(client);

        await set.WaitAsync(Patience, Cancel);
        Assert.Equal(client.VaultPid, (await status.WaitAsync(Patience, Cancel)).VaultPid);
        Assert.Equal(22, await vault.WithSecretAsync("db", static bytes => bytes.Length, cancellationToken: Cancel));
        Assert.Equal(VaultState.Unlocked, vault.State);
        Assert.Equal(["db"], (await vault.GetStatusAsync(Cancel)).Secrets);
        await client.LockSecretAsync("db", Cancel);
        // State changes of the real vault reach the injected one's subscribers, with it as the sender.
        Assert.Same(vault, await locked.Task.WaitAsync(Patience, Cancel));
    }

    [Fact]
    public async Task NeverStarted_ACallFailsWithAClearExceptionAfterTheStartTimeout_TheStartFailureIsPassedOn()
    {
        var services = new ServiceCollection();
        services.AddActorVault();
        await using ServiceProvider provider = services.BuildServiceProvider();
        ActorVaultHolder holder = provider.GetRequiredService<ActorVaultHolder>();
        holder.StartTimeout = TimeSpan.FromMilliseconds(200);
        IVault vault = provider.GetRequiredService<IVault>();

        VaultUnavailableException e = await Assert.ThrowsAsync<VaultUnavailableException>(() => vault.GetStatusAsync(Cancel));
        Assert.Contains("WithActorVault", e.Message, StringComparison.Ordinal);

        holder.Failed(new VaultStartupException("The vault could not be started: test."));
        Assert.Equal(VaultState.Stopped, vault.State);
        await Assert.ThrowsAsync<VaultStartupException>(() => vault.WithSecretAsync("db", static bytes => bytes.Length, cancellationToken: Cancel));
    }
}
