using Akka.Actor;
using ActorVault.Client;
using ActorVault.Testing;

namespace ActorVault.IntegrationTests;

/// <summary>
/// Fault injection into the application side's actors, against the real vault child: an exception in
/// the supervisor (which restarts) or in its run (which is stopped) ends what was in flight with a
/// clear error, kills that vault, and a fresh vault serves leases again.
/// </summary>
public sealed class SupervisorFaultTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AnExceptionInTheSupervisorOrItsRun_EndsTheLiveLease_ThenLeasesWorkAgain(bool inRun)
    {
        await using VaultClient client = await VaultClient.StartAsync(new VaultClientOptions { MinBackoff = TimeSpan.FromMilliseconds(50) });
        await client.SetSecretAsync("s", "first secret"u8.ToArray().AsSpan());
        Assert.Equal(12, await client.WithSecretAsync("s", static span => span.Length));
        int firstPid = client.VaultPid;

        var back = new TaskCompletionSource<VaultStateChanged>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.StateChanged += (_, e) =>
        {
            if (e.State == VaultState.Locked && e.VaultPid != firstPid)
            {
                back.TrySetResult(e);
            }
        };

        // A lease in flight when the fault strikes: it ends for its caller, never returns a value.
        var inside = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<int> live = client.WithSecretAsync("s", async lease =>
        {
            inside.TrySetResult();
            await Task.Delay(Timeout.Infinite, lease.Ended);
            return lease.Length;
        }, new LeaseOptions { Ttl = TimeSpan.FromMinutes(5) });
        await inside.Task.WaitAsync(Generous);

        client.Supervisor.Tell(new SupervisorProtocol.InjectFault(inRun, "test"));

        await Assert.ThrowsAsync<VaultUnavailableException>(() => live.WaitAsync(Generous));
        Assert.Equal(0, client.Tracker.Count);
        VaultStateChanged restarted = await back.Task.WaitAsync(Generous);
        Assert.True(restarted.Restarts >= 1);
        Assert.NotNull(ProcessExit.Wait(firstPid, Generous));

        // The new vault is empty (locked) and fully usable.
        await Assert.ThrowsAnyAsync<Exception>(() => client.WithSecretAsync("s", static span => span.Length));
        await client.SetSecretAsync("s", "second"u8.ToArray().AsSpan());
        Assert.Equal(6, await client.WithSecretAsync("s", static span => span.Length));
        Assert.Equal(VaultState.Unlocked, client.State);
    }
}
