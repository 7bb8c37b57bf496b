using Microsoft.Extensions.Time.Testing;
using ActorVault.TestKit;

namespace ActorVault.IntegrationTests;

/// <summary>TestVault on a fake clock: a lease's deadline is exactly where the test puts it, with no waiting.</summary>
public sealed class TestVaultClockTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task ALease_ExpiresExactlyWhenTheFakeClockPassesItsDeadline_AndTheCallThrows()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 12, 2, 0, 0, 0, TimeSpan.Zero));
        await using var vault = new TestVault(new TestVaultOptions { TimeProvider = clock });
        await vault.SetSecretAsync("main", "on a fake clock"u8.ToArray().AsSpan());

        var inside = new TaskCompletionSource<SecretLease>(TaskCreationOptions.RunContinuationsAsynchronously);
        var advanced = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<int> call = vault.WithSecretAsync("main", async lease =>
        {
            inside.SetResult(lease);
            await advanced.Task;
            return lease.Length; // the bytes were zeroed under it: this must not be returned
        }, new LeaseOptions { Ttl = TimeSpan.FromSeconds(30) });
        SecretLease lease = await inside.Task.WaitAsync(Generous);
        Assert.Equal(clock.GetUtcNow() + TimeSpan.FromSeconds(30), lease.Deadline);

        clock.Advance(TimeSpan.FromSeconds(29.999));
        Assert.True(lease.IsLive);
        Assert.Equal(15, lease.Use(static bytes => bytes.Length));

        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.False(lease.IsLive); // zeroed by the clock's timer, synchronously, at the deadline
        Assert.Throws<LeaseExpiredException>(() => lease.Use(static _ => { }));
        advanced.SetResult();
        await Assert.ThrowsAsync<LeaseExpiredException>(() => call.WaitAsync(Generous));

        LeaseAuditEvent end = Assert.Single(vault.Audit, e => e.Kind == LeaseAuditKind.Expired);
        Assert.Equal(TimeSpan.FromSeconds(30), end.Duration); // time held, on the same clock
        vault.AssertAllLeasesReleased();
    }

    [Fact]
    public async Task OnAFakeClock_RealTimePassingDoesNotExpireALease()
    {
        var clock = new FakeTimeProvider();
        await using var vault = new TestVault(new TestVaultOptions { TimeProvider = clock });
        await vault.SetSecretAsync("main", "x"u8.ToArray().AsSpan());

        // A 1 ms lease whose callback does real asynchronous work: only the fake clock can end it.
        int length = await vault.WithSecretAsync("main", async lease =>
        {
            await Task.Yield();
            await Task.Run(() => Thread.SpinWait(1_000_000));
            return lease.Use(static bytes => bytes.Length);
        }, new LeaseOptions { Ttl = TimeSpan.FromMilliseconds(1) });
        Assert.Equal(1, length);
    }
}
