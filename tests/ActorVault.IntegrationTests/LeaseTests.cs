using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using Akka.Actor;
using ActorVault.Testing;

namespace ActorVault.IntegrationTests;

/// <summary>Leases against the real vault child: correctness under load, every ending path zeroes.</summary>
public sealed class LeaseTests : IAsyncLifetime
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);
    private static readonly byte[] Secret = [.. "lease me, then zero me"u8, 0x00, 0xFF];
    private static readonly string Digest = Convert.ToHexString(SHA256.HashData(Secret));
    private VaultClient _client = null!;

    public async Task InitializeAsync()
    {
        _client = await VaultClient.StartAsync(new VaultClientOptions { MinBackoff = TimeSpan.FromMilliseconds(100) });
        await _client.SetSecretAsync("main", Secret.ToArray().AsSpan());
    }

    public async Task DisposeAsync() => await _client.DisposeAsync();

    [Fact]
    public async Task Sequential2000_And_Concurrent5000With16InFlight_AllSeeTheRightBytes()
    {
        for (int i = 0; i < 2000; i++)
        {
            Assert.Equal(Digest, await _client.WithSecretAsync("main", static span => Convert.ToHexString(SHA256.HashData(span))));
        }

        var digests = new ConcurrentDictionary<string, int>();
        int next = 0;
        await Task.WhenAll(Enumerable.Range(0, 16).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) <= 5000)
            {
                string d = await _client.WithSecretAsync("main", async lease =>
                {
                    await Task.Yield(); // really concurrent: leases overlap across threads
                    return lease.Use(static span => Convert.ToHexString(SHA256.HashData(span)));
                });
                digests.AddOrUpdate(d, 1, (_, n) => n + 1);
            }
        }));

        Assert.Equal([Digest], digests.Keys);
        Assert.Equal(5000, digests[Digest]);
        Assert.Equal(0, _client.LiveLeases);
    }

    [Fact]
    public async Task CallbackThrowsOrIsCancelled_BytesZeroed_ExceptionPropagates()
    {
        SecretLease? seen = null;
        var thrown = await Assert.ThrowsAsync<InvalidOperationException>(() => _client.WithSecretAsync<int>("main", lease =>
        {
            seen = lease;
            throw new InvalidOperationException("callback failed");
        }));
        Assert.Equal("callback failed", thrown.Message);
        Assert.False(seen!.IsLive);
        Assert.True(seen.Buffer.IsZeroed);
        Assert.Throws<LeaseExpiredException>(() => seen.Use(static _ => { }));

        using var cts = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _client.WithSecretAsync<int>("main", async lease =>
        {
            seen = lease;
            await cts.CancelAsync();
            cts.Token.ThrowIfCancellationRequested();
            return 0;
        }));
        Assert.True(seen.Buffer.IsZeroed);
        Assert.Equal(0, _client.LiveLeases);
    }

    [Fact]
    public async Task Deadline_ZeroesTheBytesWhileTheCallbackStillRuns()
    {
        Task<List<LeaseAuditEvent>> audit = AuditProbe(2);
        string result = string.Empty;
        await Assert.ThrowsAsync<LeaseExpiredException>(() => _client.WithSecretAsync("main", async lease =>
        {
            Assert.Equal(Secret.Length, lease.Use(static s => s.Length));
            await WaitFor(lease.Ended);          // the deadline, as an event
            Assert.False(lease.IsLive);
            Assert.True(lease.Buffer.IsZeroed, "zeroed while the callback runs");
            result = Assert.Throws<LeaseExpiredException>(() => lease.Use(static _ => { })).Message;
            return result;
        }, new LeaseOptions { Ttl = TimeSpan.FromMilliseconds(300) }));

        Assert.Contains("deadline", result, StringComparison.Ordinal);
        Assert.Contains(await audit, e => e.Kind == LeaseAuditKind.Expired);
    }

    [Fact]
    public async Task ALeaseThatEndsBeforeItsCallbackReturns_NeverReturnsAValue_TheCallThrowsItsCause()
    {
        // The deadline passes while a synchronous-looking callback computes from bytes zeroed under it.
        var e = await Assert.ThrowsAsync<LeaseExpiredException>(() => _client.WithSecretAsync("main", async lease =>
        {
            int first = lease.Use(static s => s[0]);
            await WaitFor(lease.Ended);
            return first; // a value from before the end: still never returned
        }, new LeaseOptions { Ttl = TimeSpan.FromMilliseconds(200) }));
        Assert.Contains("deadline", e.Message, StringComparison.Ordinal);

        // An OperationCanceledException raised from lease.Ended reaches the caller as the end's cause.
        var started = new TaskCompletionSource<Guid>(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<int> held = _client.WithSecretAsync("main", async lease =>
        {
            started.SetResult(lease.Id);
            await Task.Delay(Timeout.Infinite, lease.Ended);
            return 1;
        });
        Assert.True(await _client.RevokeLeaseAsync(await started.Task.WaitAsync(Generous)));
        var revoked = await Assert.ThrowsAsync<LeaseRevokedException>(() => held.WaitAsync(Generous));
        Assert.IsAssignableFrom<OperationCanceledException>(revoked.InnerException);
        Assert.Equal(0, _client.LiveLeases);
    }

    [Fact]
    public async Task TheCallersToken_EndsARunningLease_ZeroesAtOnce_AndTheCallIsCancelled()
    {
        using var cancel = new CancellationTokenSource();
        var started = new TaskCompletionSource<SecretLease>(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<int> held = _client.WithSecretAsync("main", async lease =>
        {
            started.SetResult(lease);
            await Task.Delay(Timeout.Infinite, lease.Ended); // the callback listens to the lease, not to the caller's token
            return 1;
        }, cancellationToken: cancel.Token);
        SecretLease running = await started.Task.WaitAsync(Generous);

        await cancel.CancelAsync();

        var e = await Assert.ThrowsAsync<OperationCanceledException>(() => held.WaitAsync(Generous));
        Assert.Contains("cancellation token", e.Message, StringComparison.Ordinal);
        Assert.True(running.Buffer.IsZeroed);
        Assert.Equal(0, _client.LiveLeases);
    }

    [Fact]
    public async Task Revoke_OneAndAll_ZeroTheBytesNow()
    {
        var started = new TaskCompletionSource<Guid>(TaskCreationOptions.RunContinuationsAsynchronously);
        var inside = new System.Collections.Concurrent.ConcurrentQueue<Type>();
        Task<int> held = _client.WithSecretAsync("main", async lease =>
        {
            started.SetResult(lease.Id);
            await WaitFor(lease.Ended);
            inside.Enqueue(Assert.ThrowsAny<Exception>(() => lease.Use(static _ => { })).GetType());
            return 42;
        });
        Guid id = await started.Task.WaitAsync(Generous);
        Assert.True(await _client.RevokeLeaseAsync(id));
        await Assert.ThrowsAsync<LeaseRevokedException>(() => held.WaitAsync(Generous));

        var twoStarted = new CountdownEvent(2);
        Task<int>[] both = [.. Enumerable.Range(0, 2).Select(_ => _client.WithSecretAsync("main", async lease =>
        {
            twoStarted.Signal();
            await WaitFor(lease.Ended);
            inside.Enqueue(Assert.ThrowsAny<Exception>(() => lease.Use(static _ => { })).GetType());
            return 42;
        }))];
        Assert.True(twoStarted.Wait(Generous));
        Assert.Equal(2, await _client.RevokeAllLeasesAsync());
        foreach (Task<int> one in both)
        {
            await Assert.ThrowsAsync<LeaseRevokedException>(() => one.WaitAsync(Generous));
        }

        Assert.Equal(3, inside.Count);
        Assert.All(inside, t => Assert.Equal(typeof(LeaseRevokedException), t));
    }

    [Fact]
    public async Task LockSecret_RevokesItsLeases_LaterLeasesFailUntilSetAgain()
    {
        await _client.SetSecretAsync("lockable", "to be locked"u8.ToArray().AsSpan());
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bool zeroed = false;
        Task<bool> held = _client.WithSecretAsync("lockable", async lease =>
        {
            started.SetResult();
            await WaitFor(lease.Ended);
            zeroed = lease.Buffer.IsZeroed;
            return zeroed;
        });
        await started.Task.WaitAsync(Generous);

        Assert.True(await _client.LockSecretAsync("lockable"));
        await Assert.ThrowsAsync<LeaseRevokedException>(() => held.WaitAsync(Generous));
        Assert.True(zeroed);
        await Assert.ThrowsAsync<SecretLockedException>(() => _client.WithSecretAsync("lockable", static span => span.Length));

        await _client.SetSecretAsync("lockable", "set again"u8.ToArray().AsSpan());
        Assert.Equal(9, await _client.WithSecretAsync("lockable", static span => span.Length));
        await Assert.ThrowsAsync<SecretUnavailableException>(() => _client.WithSecretAsync("never-set", static span => span.Length));
    }

    [Fact]
    public async Task Caps_FailFastOrWaitForCapacity()
    {
        await using VaultClient small = await VaultClient.StartAsync(new VaultClientOptions { MaxConcurrentLeases = 2 });
        await small.SetSecretAsync("s", "x"u8.ToArray().AsSpan());
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var holding = new CountdownEvent(2);
        Task<int>[] holders = [.. Enumerable.Range(0, 2).Select(_ => small.WithSecretAsync("s", async lease =>
        {
            holding.Signal();
            await release.Task;
            return lease.Length;
        }))];
        Assert.True(holding.Wait(Generous));

        var full = await Assert.ThrowsAsync<LeaseCapacityException>(() => small.WithSecretAsync("s", static span => span.Length, new LeaseOptions { CapacityWait = TimeSpan.Zero }));
        Assert.Contains("2 leases", full.Message, StringComparison.Ordinal);

        Task<int> waiting = small.WithSecretAsync("s", static span => span.Length, new LeaseOptions { CapacityWait = Generous });
        Assert.False(waiting.IsCompleted);
        release.SetResult();
        Assert.Equal(1, await waiting.WaitAsync(Generous));
        Assert.All(await Task.WhenAll(holders), n => Assert.Equal(1, n));
    }

    [Fact]
    public async Task VaultKilledDuring16InFlightLeases_EveryCallerGetsVaultUnavailable_NoneHangs()
    {
        int vaultPid = _client.VaultPid;
        using var allIn = new CountdownEvent(16);
        Task<Exception?>[] callers = [.. Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
        {
            try
            {
                await _client.WithSecretAsync("main", async lease =>
                {
                    allIn.Signal();
                    await WaitFor(lease.Ended);
                    lease.Use(static _ => { }); // throws: the lease ended with the vault
                    return 0;
                });
                return null;
            }
            catch (Exception e)
            {
                return e;
            }
        }))];
        Assert.True(allIn.Wait(Generous), "16 leases in flight");

        Process.GetProcessById(vaultPid).Kill();
        Exception?[] outcomes = await Task.WhenAll(callers).WaitAsync(Generous);

        Assert.All(outcomes, e => Assert.IsType<VaultUnavailableException>(e));
        Assert.Equal(0, _client.LiveLeases);
        await Assert.ThrowsAnyAsync<Exception>(() => _client.WithSecretAsync("main", static span => span.Length)); // restarted vault is locked
    }

    [Fact]
    public async Task Audit_GrantedAndReleased_WithNamesAndDurations_NeverBytes()
    {
        Task<List<LeaseAuditEvent>> audit = AuditProbe(2);
        await _client.WithSecretAsync("main", static span => span.Length);
        List<LeaseAuditEvent> events = await audit;
        Assert.Equal([LeaseAuditKind.Granted, LeaseAuditKind.Released], events.Select(e => e.Kind));
        Assert.All(events, e => Assert.Equal("main", e.SecretName));
        Assert.Equal(events[0].LeaseId, events[1].LeaseId);
        Assert.DoesNotContain(events, e => e.ToString().Contains("lease me", StringComparison.Ordinal));
    }

    private static async Task WaitFor(CancellationToken token)
    {
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (token.Register(() => ended.SetResult()))
        {
            await ended.Task.WaitAsync(Generous);
        }
    }

    [Fact]
    public async Task EveryLeaseEnd_IsOneAuditEvent_WithItsName_TimeHeld_AndCause()
    {
        var events = new System.Collections.Concurrent.ConcurrentQueue<LeaseAuditEvent>();
        var marker = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var markerId = new TaskCompletionSource<Guid>(TaskCreationOptions.RunContinuationsAsynchronously);
        IActorRef listener = _client.LinkSystem.ActorOf(Props.Create(() => new AllAuditListener(events, e => markerId.Task.IsCompletedSuccessfully && e.LeaseId == markerId.Task.Result && e.Kind == LeaseAuditKind.Released, marker)));
        _client.LinkSystem.EventStream.Subscribe(listener, typeof(LeaseAuditEvent));

        Guid expired = Guid.Empty, revoked = Guid.Empty;
        await Assert.ThrowsAsync<LeaseExpiredException>(() => _client.WithSecretAsync("main", async lease =>
        {
            expired = lease.Id;
            await WaitFor(lease.Ended);
            return 0;
        }, new LeaseOptions { Ttl = TimeSpan.FromMilliseconds(300) }));

        var inside = new TaskCompletionSource<Guid>(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<int> held = _client.WithSecretAsync("main", async lease =>
        {
            inside.SetResult(lease.Id);
            await WaitFor(lease.Ended);
            return 0;
        });
        revoked = await inside.Task.WaitAsync(Generous);
        Assert.True(await _client.RevokeLeaseAsync(revoked));
        await Assert.ThrowsAsync<LeaseRevokedException>(() => held.WaitAsync(Generous));

        // A last, ordinary lease: its Released event comes after the others' (each was published before its call returned).
        _ = await _client.WithSecretAsync("main", lease =>
        {
            markerId.SetResult(lease.Id);
            return ValueTask.FromResult(0);
        });
        await marker.Task.WaitAsync(Generous);

        foreach ((Guid id, LeaseAuditKind kind, string cause) in new[] { (expired, LeaseAuditKind.Expired, "deadline"), (revoked, LeaseAuditKind.Revoked, "revoked by the application") })
        {
            LeaseAuditEvent[] ends = [.. events.Where(e => e.LeaseId == id && e.Kind is not (LeaseAuditKind.Granted or LeaseAuditKind.Refused))];
            Assert.True(ends.Length == 1, $"{kind}: {ends.Length} end events: {string.Join(" | ", ends.Select(e => e.ToString()))}");
            Assert.Equal(kind, ends[0].Kind);
            Assert.Equal("main", ends[0].SecretName);
            Assert.True(ends[0].Duration > TimeSpan.Zero, ends[0].ToString());
            Assert.Contains(cause, ends[0].Reason, StringComparison.Ordinal);
        }
    }

    private sealed class AllAuditListener : ReceiveActor
    {
        public AllAuditListener(System.Collections.Concurrent.ConcurrentQueue<LeaseAuditEvent> events, Func<LeaseAuditEvent, bool> last, TaskCompletionSource done) =>
            Receive<LeaseAuditEvent>(e =>
            {
                events.Enqueue(e);
                if (last(e))
                {
                    done.TrySetResult();
                }
            });
    }

    /// <summary>Collects lease audit events from the link system's event stream until <paramref name="count"/> arrived.</summary>
    private Task<List<LeaseAuditEvent>> AuditProbe(int count = 1)
    {
        var done = new TaskCompletionSource<List<LeaseAuditEvent>>(TaskCreationOptions.RunContinuationsAsynchronously);
        var events = new List<LeaseAuditEvent>();
        IActorRef listener = _client.LinkSystem.ActorOf(Props.Create(() => new AuditListener(events, count, done)));
        _client.LinkSystem.EventStream.Subscribe(listener, typeof(LeaseAuditEvent));
        return done.Task.WaitAsync(Generous);
    }

    private sealed class AuditListener : ReceiveActor
    {
        public AuditListener(List<LeaseAuditEvent> events, int count, TaskCompletionSource<List<LeaseAuditEvent>> done) =>
            Receive<LeaseAuditEvent>(e =>
            {
                events.Add(e);
                if (events.Count == count)
                {
                    done.TrySetResult([.. events]);
                }
            });
    }
}
