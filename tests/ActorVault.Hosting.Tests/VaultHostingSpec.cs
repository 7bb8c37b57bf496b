using System.Diagnostics;
using Akka.Hosting;
using ActorVault.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace ActorVault.Hosting.Tests;

/// <summary>
/// An application on Akka.Hosting (the TestKit's host and actor system "app") with ActorVault embedded:
/// the vault is a real child process. Each test gets its own host, so its own vault.
/// </summary>
public abstract class VaultHostingSpec : Akka.Hosting.TestKit.TestKit
{
    /// <summary>Generous: a real child process on a shared two-core machine.</summary>
    protected static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    protected VaultHostingSpec()
        : base("app", startupTimeout: TimeSpan.FromSeconds(90))
    {
    }

    protected static CancellationToken Cancel => TestContext.Current.CancellationToken;

    protected override void ConfigureServices(HostBuilderContext context, IServiceCollection services)
    {
        services.AddActorVault();
        services.AddHealthChecks().AddActorVault();
    }

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) => ConfigureVault(builder);

    /// <summary>The application's own Akka configuration: WithActorVault and whatever else it uses.</summary>
    protected abstract void ConfigureVault(AkkaConfigurationBuilder builder);

    /// <summary>The vault that WithActorVault started with the actor system.</summary>
    protected Task<VaultClient> StartedVaultAsync() =>
        Host.Services.GetRequiredService<ActorVaultHolder>().WhenStarted.WaitAsync(Patience, Cancel);

    /// <summary>
    /// Holds two leases of "db" at once, checks that a third is refused at once (capacity), releases
    /// the two and returns the deadlines they were granted.
    /// </summary>
    protected static async Task<TimeSpan[]> TwoLeasesHeld_AThirdRefusedAsync(IVault vault)
    {
        using var held = new CountdownEvent(2);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async ValueTask<TimeSpan> Hold(SecretLease lease)
        {
            held.Signal();
            await release.Task;
            return lease.Deadline - lease.GrantedAt;
        }

        Task<TimeSpan> a = vault.WithSecretAsync("db", Hold, cancellationToken: Cancel);
        Task<TimeSpan> b = vault.WithSecretAsync("db", Hold, cancellationToken: Cancel);
        Assert.True(held.Wait(Patience, Cancel), "two leases were not granted");
        await Assert.ThrowsAsync<LeaseCapacityException>(() => vault.WithSecretAsync("db", static s => s.Length, cancellationToken: Cancel));
        release.TrySetResult();
        return await Task.WhenAll(a, b).WaitAsync(Patience, Cancel);
    }

    /// <summary>Waits (on <see cref="IVault.StateChanged"/>, not by polling) until the vault is in <paramref name="state"/>.</summary>
    protected static async Task WaitForStateAsync(IVault vault, VaultState state)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnChanged(object? sender, VaultStateChanged e)
        {
            if (e.State == state)
            {
                reached.TrySetResult();
            }
        }

        vault.StateChanged += OnChanged;
        try
        {
            if (vault.State == state)
            {
                return;
            }

            await reached.Task.WaitAsync(Patience, Cancel);
        }
        finally
        {
            vault.StateChanged -= OnChanged;
        }
    }

    /// <summary>Waits for the process <paramref name="pid"/> to exit; true when it did within <see cref="Patience"/>.</summary>
    protected static async Task<bool> ProcessExitsAsync(Process? process)
    {
        if (process is null)
        {
            return true; // already gone when we looked
        }

        try
        {
            await process.WaitForExitAsync(Cancel).WaitAsync(Patience, Cancel);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>The running process <paramref name="pid"/>, or null when there is none.</summary>
    protected static Process? FindProcess(int pid)
    {
        try
        {
            return Process.GetProcessById(pid);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }
}
