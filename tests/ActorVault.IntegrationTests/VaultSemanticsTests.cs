using System.Security.Cryptography;
using ActorVault.TestKit;

namespace ActorVault.IntegrationTests;

/// <summary>
/// The same scenarios against the real vault (child process) and ActorVault.TestKit's in-process
/// TestVault: the test vault must behave like the real one wherever users' code can tell.
/// </summary>
public abstract class VaultSemanticsTests : IAsyncLifetime
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);
    private static readonly byte[] Secret = [.. "same semantics"u8, 0x00, 0xFE];

    protected IVault Vault { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Vault = await CreateAsync(maxConcurrentLeases: 2);
        await Vault.SetSecretAsync("main", Secret.ToArray().AsSpan());
    }

    public async Task DisposeAsync() => await Vault.DisposeAsync();

    [Fact]
    public async Task Lease_SeesExactlyTheBytes_AndStateIsUnlocked()
    {
        Assert.Equal(VaultState.Unlocked, Vault.State);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(Secret)), await Vault.WithSecretAsync("main", static s => Convert.ToHexString(SHA256.HashData(s))));
        Assert.Equal(["main"], (await Vault.GetStatusAsync()).Secrets);
    }

    [Fact]
    public async Task CallbackThrows_BytesZeroed_ExceptionPropagates()
    {
        SecretLease? seen = null;
        await Assert.ThrowsAsync<InvalidOperationException>(() => Vault.WithSecretAsync<int>("main", lease =>
        {
            seen = lease;
            throw new InvalidOperationException("x");
        }));
        Assert.False(seen!.IsLive);
        Assert.Throws<LeaseExpiredException>(() => seen.Use(static _ => { }));
    }

    [Fact]
    public async Task Deadline_EndsALeaseWhileItsCallbackRuns()
    {
        Type? inside = null;
        // The call throws the lease's end, never the callback's value.
        await Assert.ThrowsAsync<LeaseExpiredException>(() => Vault.WithSecretAsync("main", async lease =>
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (lease.Ended.Register(() => done.SetResult()))
            {
                await done.Task.WaitAsync(Generous);
            }

            inside = Assert.ThrowsAny<Exception>(() => lease.Use(static _ => { })).GetType();
            return 42;
        }, new LeaseOptions { Ttl = TimeSpan.FromMilliseconds(200) }));
        Assert.Equal(typeof(LeaseExpiredException), inside);
    }

    [Fact]
    public async Task RevokeAll_EndsLiveLeases_WithLeaseRevokedException()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Type? inside = null;
        Task<int> held = Vault.WithSecretAsync("main", async lease =>
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (lease.Ended.Register(() => done.SetResult()))
            {
                started.SetResult();
                await done.Task.WaitAsync(Generous);
            }

            inside = Assert.ThrowsAny<Exception>(() => lease.Use(static _ => { })).GetType();
            return 42;
        });
        await started.Task.WaitAsync(Generous);
        Assert.Equal(1, await Vault.RevokeAllLeasesAsync());
        await Assert.ThrowsAsync<LeaseRevokedException>(() => held.WaitAsync(Generous));
        Assert.Equal(typeof(LeaseRevokedException), inside);
    }

    [Fact]
    public async Task Lock_ThenLease_IsSecretLocked_UnknownIsNotFound_SetAgainWorks()
    {
        Assert.True(await Vault.LockSecretAsync("main"));
        Assert.Equal(VaultState.Locked, Vault.State);
        // One type for "no secret to lend", whatever the cause; the cause is data.
        SecretUnavailableException locked = await Assert.ThrowsAnyAsync<SecretUnavailableException>(() => Vault.WithSecretAsync("main", static s => s.Length));
        Assert.Equal(SecretUnavailableReason.Locked, locked.Reason);
        Assert.IsType<SecretLockedException>(locked);
        SecretUnavailableException never = await Assert.ThrowsAsync<SecretUnavailableException>(() => Vault.WithSecretAsync("nope", static s => s.Length));
        Assert.Equal(SecretUnavailableReason.NeverSet, never.Reason);
        Assert.DoesNotContain("locked", never.Message, StringComparison.OrdinalIgnoreCase);
        await Vault.SetSecretAsync("main", "again"u8.ToArray().AsSpan());
        Assert.Equal(5, await Vault.WithSecretAsync("main", static s => s.Length));
    }

    [Fact]
    public async Task Caps_FailFast_WithLeaseCapacityException()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var holding = new CountdownEvent(2);
        Task<int>[] holders = [.. Enumerable.Range(0, 2).Select(_ => Vault.WithSecretAsync("main", async lease =>
        {
            holding.Signal();
            await release.Task;
            return lease.Length;
        }))];
        Assert.True(holding.Wait(Generous));
        await Assert.ThrowsAsync<LeaseCapacityException>(() => Vault.WithSecretAsync("main", static s => s.Length, new LeaseOptions { CapacityWait = TimeSpan.Zero }));
        release.SetResult();
        await Task.WhenAll(holders);
    }

    [Fact]
    public async Task AbsurdTtl_IsABadRequest()
    {
        var e = await Assert.ThrowsAsync<VaultOperationException>(() => Vault.WithSecretAsync("main", static s => s.Length, new LeaseOptions { Ttl = TimeSpan.FromDays(2) }));
        Assert.Equal(VaultError.BadRequest, e.Error);
    }

    [Fact]
    public async Task Deadline_IsHard_WithTheThreadPoolStarvedBySpinningSynchronousCallbacks()
    {
        // 16 synchronous callbacks spin on pool threads (default pool settings) until their bytes are
        // zeroed: the deadline must not need a pool thread to zero them (it did: 6 of 16 never were).
        const int Spinners = 16;
        TimeSpan ttl = TimeSpan.FromMilliseconds(200);
        await using IVault vault = await CreateAsync(maxConcurrentLeases: 32);
        await vault.SetSecretAsync("main", Secret.ToArray().AsSpan());
        var late = new System.Collections.Concurrent.ConcurrentQueue<string>();
        Task[] leases = [.. Enumerable.Range(0, Spinners).Select(_ => Task.Run(() => vault.WithSecretAsync("main", lease =>
        {
            ReadOnlySpan<byte> bytes = lease.Bytes;
            long granted = System.Diagnostics.Stopwatch.GetTimestamp() - (long)((DateTimeOffset.UtcNow - lease.GrantedAt).TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
            DateTime giveUp = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (bytes.IndexOfAnyExcept((byte)0) >= 0 && DateTime.UtcNow < giveUp)
            {
                Thread.SpinWait(20);
            }

            TimeSpan zeroedAfter = System.Diagnostics.Stopwatch.GetElapsedTime(granted);
            if (zeroedAfter > ttl + TimeSpan.FromMilliseconds(50))
            {
                late.Enqueue($"{zeroedAfter.TotalMilliseconds:0} ms");
            }

            return ValueTask.FromResult(0);
        }, new LeaseOptions { Ttl = ttl })))];
        foreach (Task lease in leases)
        {
            await Assert.ThrowsAsync<LeaseExpiredException>(() => lease.WaitAsync(Generous));
        }

        Assert.True(late.IsEmpty, $"{late.Count} of {Spinners} leases zeroed later than deadline + 50 ms: {string.Join(", ", late)}");
    }

    protected abstract Task<IVault> CreateAsync(int maxConcurrentLeases);
}

public sealed class RealVaultSemanticsTests : VaultSemanticsTests
{
    protected override async Task<IVault> CreateAsync(int maxConcurrentLeases) =>
        await VaultClient.StartAsync(new VaultClientOptions { MaxConcurrentLeases = maxConcurrentLeases });
}

public sealed class TestVaultSemanticsTests : VaultSemanticsTests
{
    [Fact]
    public async Task AssertAllLeasesReleased_PassesWhenLetGo_FailsWhileHeld()
    {
        var vault = (TestVault)Vault;
        await vault.WithSecretAsync("main", static s => s.Length);
        vault.AssertAllLeasesReleased();
        Assert.Contains(vault.Audit, e => e.Kind == LeaseAuditKind.Released);

        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<int> lease = vault.WithSecretAsync("main", async l =>
        {
            held.SetResult();
            await release.Task;
            return l.Length;
        });
        await held.Task;
        Assert.Throws<InvalidOperationException>(vault.AssertAllLeasesReleased);
        release.SetResult();
        await lease;
        vault.AssertAllLeasesReleased();
    }

    protected override Task<IVault> CreateAsync(int maxConcurrentLeases) =>
        Task.FromResult<IVault>(new TestVault(new TestVaultOptions { MaxConcurrentLeases = maxConcurrentLeases }));
}
