using System.Collections.Concurrent;
using ActorVault.Client;
using ActorVault.Memory;
using ActorVault.Memory.Readers;

namespace ActorVault.TestKit;

/// <summary>Options of a <see cref="TestVault"/>: the real vault's defaults, read from the same reference HOCON.</summary>
public sealed record TestVaultOptions
{
    private static readonly Configuration.Settings Link = new(Configuration.ActorVaultConfig.Link, "actorvault.lease");
    private static readonly Configuration.Settings Vault = new(Configuration.ActorVaultConfig.Vault, "actorvault.lease");

    /// <summary>Deadline of a lease when <see cref="LeaseOptions.Ttl"/> is not given (<c>actorvault.lease.default-ttl</c>).</summary>
    public TimeSpan DefaultLeaseTtl { get; init; } = Link.Time("default-ttl");

    /// <summary>The longest deadline a lease may ask for (the vault's <c>actorvault.lease.max-ttl</c>).</summary>
    public TimeSpan MaxLeaseTtl { get; init; } = Vault.Time("max-ttl");

    /// <summary>Leases held at once (<c>actorvault.lease.max-concurrent</c>).</summary>
    public int MaxConcurrentLeases { get; init; } = Link.Int("max-concurrent");

    /// <summary>How long a lease waits for capacity by default; zero fails fast (<c>actorvault.lease.capacity-wait</c>).</summary>
    public TimeSpan LeaseCapacityWait { get; init; } = Link.Time("capacity-wait");

    /// <summary>
    /// The clock of lease deadlines (default: the system's). Pass a fake (for instance
    /// <c>Microsoft.Extensions.Time.Testing.FakeTimeProvider</c>) and a lease expires exactly when the
    /// test advances it past the deadline — its bytes zeroed, the call throwing
    /// <see cref="LeaseExpiredException"/> — with no waiting and no race.
    /// </summary>
    public TimeProvider? TimeProvider { get; init; }

    /// <summary>The meter factory for the lease instruments (as <see cref="VaultClientOptions.MeterFactory"/>); default: the shared meter.</summary>
    public System.Diagnostics.Metrics.IMeterFactory? MeterFactory { get; init; }
}

/// <summary>
/// An in-process <see cref="IVault"/> for users' tests (Akka.TestKit specs or plain unit tests): the
/// same lease semantics as <see cref="VaultClient"/> — deadlines that zero a running callback's bytes,
/// revoke, lock, caps, audit, the same exceptions — with secrets in this process's secret memory and no
/// child process, no Akka.Remote, no RSA. Use it to test code that leases secrets; use the real vault
/// in production. <see cref="AssertAllLeasesReleased"/> checks that the code under test let go.
/// </summary>
public sealed class TestVault : IVault
{
    private readonly TestVaultOptions _options;
    private readonly ConcurrentDictionary<string, SecretBuffer> _secrets = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _locked = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<LeaseAuditEvent> _audit = new();
    private readonly ClientSecretTracker _tracker = new();
    private readonly SemaphoreSlim _capacity;
    private readonly LeaseHooks _hooks;
    private int _stopped;

    /// <summary>Creates an empty (locked) test vault.</summary>
    public TestVault(TestVaultOptions? options = null)
    {
        _options = options ?? new TestVaultOptions();
        _capacity = new SemaphoreSlim(_options.MaxConcurrentLeases, _options.MaxConcurrentLeases);
        _hooks = new LeaseHooks(AcquireAsync, static (_, _, _) => { }, (kind, id, name, duration, reason) => _audit.Enqueue(new LeaseAuditEvent(kind, id, name, duration, reason)))
        {
            Instruments = _options.MeterFactory is { } meters ? new LeaseInstruments(meters) : VaultMetrics.Shared,
        };
    }

    /// <inheritdoc />
    public event EventHandler<VaultStateChanged>? StateChanged;

    /// <inheritdoc />
    public VaultState State => Volatile.Read(ref _stopped) != 0 ? VaultState.Stopped : _secrets.IsEmpty ? VaultState.Locked : VaultState.Unlocked;

    /// <summary>Leases held right now.</summary>
    public int LiveLeases => _tracker.LiveLeases;

    /// <summary>The audit trail so far (granted, released, expired, revoked, refused).</summary>
    public IReadOnlyList<LeaseAuditEvent> Audit => [.. _audit];

    /// <summary>Throws unless every lease granted so far has ended (the code under test let go of them).</summary>
    public void AssertAllLeasesReleased()
    {
        if (LiveLeases != 0)
        {
            throw new InvalidOperationException($"{LiveLeases} lease(s) are still live; every lease should have ended.");
        }
    }

    /// <inheritdoc />
    public Task<T> WithSecretAsync<T>(string name, Func<SecretLease, ValueTask<T>> callback, LeaseOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(callback);
        ThrowIfStopped();
        TimeSpan ttl = options?.Ttl ?? _options.DefaultLeaseTtl;
        if (ttl <= TimeSpan.Zero || ttl > _options.MaxLeaseTtl)
        {
            throw new VaultOperationException(VaultError.BadRequest, $"A lease lasts 1 ms to {_options.MaxLeaseTtl.TotalSeconds:0.#} s, not {ttl.TotalMilliseconds:0} ms.");
        }

        return LeaseRunner.RunAsync(name, callback, ttl, options?.CapacityWait ?? _options.LeaseCapacityWait, _options.MaxConcurrentLeases, _capacity, _tracker, _hooks, cancellationToken);
    }

    /// <inheritdoc />
    public Task<int> ReadInPasswordAsync(string prompt = "Password: ", CancellationToken cancellationToken = default)
    {
        SecretBuffer secret = SecretReaders.ReadFromTerminalOrStandardInput(new SecretReadOptions { Prompt = prompt }, cancellationToken);
        return Task.FromResult(Store(VaultClient.DefaultSecretName, secret));
    }

    /// <summary>No secure heap in a test vault: reported as not enabled.</summary>
    public Task<SecureHeapUsage> GenerateSecureKeypairAsync(int bits = 0, CancellationToken cancellationToken = default) => VerifyExpectedAllocationAsync(cancellationToken);

    /// <summary>No secure heap in a test vault: reported as not enabled.</summary>
    public Task<SecureHeapUsage> VerifyExpectedAllocationAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult(new SecureHeapUsage(false, 0, 0, 0, false));

    /// <inheritdoc />
    public Task<bool> CheckSecureHeapEnabledAsync(CancellationToken cancellationToken = default) => Task.FromResult(false);

    /// <inheritdoc />
    public Task SetSecretAsync(string name, Span<byte> secret, CancellationToken cancellationToken = default)
    {
        try
        {
            ArgumentException.ThrowIfNullOrEmpty(name);
            if (secret.IsEmpty)
            {
                throw new ArgumentException("A secret cannot be empty.", nameof(secret));
            }

            Store(name, SecretMemory.CopyFrom(secret));
            return Task.CompletedTask;
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(secret);
        }
    }

    /// <inheritdoc />
    public Task<int> ReadSecretAsync(string name, SecretSource source, int maxBytes = 4096, CancellationToken cancellationToken = default)
    {
        var options = new SecretReadOptions { MaxBytes = maxBytes };
        SecretBuffer secret = source switch
        {
            SecretSource.Terminal t => SecretReaders.ReadFromTerminal(options with { Prompt = t.Prompt }, cancellationToken),
            SecretSource.File f => SecretReaders.ReadFromFile(f.Path, options),
            SecretSource.FileDescriptor d => SecretReaders.ReadFromFileDescriptor(d.Descriptor, options with { StopAtNewline = true }),
            SecretSource.SystemdCredential c => SecretReaders.ReadSystemdCredential(c.Name, options),
            _ => throw new ArgumentException($"Unknown secret source {source?.GetType().Name}.", nameof(source)),
        };
        return Task.FromResult(Store(name, secret));
    }

    /// <inheritdoc />
    public Task<bool> LockSecretAsync(string name, CancellationToken cancellationToken = default)
    {
        _tracker.EndAll(LeaseEnd.Revoked, $"secret '{name}' locked", lease => lease.Name == name);
        bool existed = _secrets.TryRemove(name, out SecretBuffer? secret);
        secret?.Dispose();
        _locked[name] = 0;
        RaiseIfChanged(existed ? VaultState.Unlocked : State, $"secret '{name}' locked");
        return Task.FromResult(existed);
    }

    /// <inheritdoc />
    public Task<bool> RevokeLeaseAsync(Guid leaseId, CancellationToken cancellationToken = default) =>
        Task.FromResult(_tracker.End(leaseId, LeaseEnd.Revoked, "revoked by the application"));

    /// <inheritdoc />
    public Task<int> RevokeAllLeasesAsync(string? name = null, CancellationToken cancellationToken = default) =>
        Task.FromResult(_tracker.EndAll(LeaseEnd.Revoked, name is null ? "all leases revoked" : $"all leases of '{name}' revoked", lease => name is null || lease.Name == name));

    /// <inheritdoc />
    public Task<VaultStatus> GetStatusAsync(CancellationToken cancellationToken = default)
    {
        SecretMemoryStatus memory = SecretMemory.Status;
        return Task.FromResult(new VaultStatus(State, Environment.ProcessId, 0, 0, 0, memory.Backing.ToString(), memory.LockedBytes, memory.LiveBuffers, false, [.. _secrets.Keys.Order(StringComparer.Ordinal)], 0));
    }

    /// <inheritdoc />
    public Task StopAsync(TimeSpan? grace = null)
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 0)
        {
            _tracker.ZeroAll("the test vault stopped");
            foreach (SecretBuffer secret in _secrets.Values)
            {
                secret.Dispose();
            }

            _secrets.Clear();
            StateChanged?.Invoke(this, new VaultStateChanged(VaultState.Locked, VaultState.Stopped, "stopped", Environment.ProcessId, 0));
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    private Task<SecretLease> AcquireAsync(string name, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ThrowIfStopped();
        if (!_secrets.TryGetValue(name, out SecretBuffer? stored))
        {
            _hooks.Audit(LeaseAuditKind.Refused, Guid.Empty, name, TimeSpan.Zero, "secret not available");
            throw _locked.ContainsKey(name)
                ? new SecretLockedException($"Secret '{name}' is locked; set it again before leasing it.")
                : new SecretUnavailableException($"The vault holds no secret '{name}': it was never set in this vault.", SecretUnavailableReason.NeverSet);
        }

        SecretBuffer copy = SecretMemory.Allocate(stored.Length);
        using (SecretBuffer.Scope from = stored.Open())
        using (SecretBuffer.Scope to = copy.Open())
        {
            from.Bytes.CopyTo(to.WritableBytes);
        }

        var lease = new SecretLease(Guid.NewGuid(), name, ttl, copy, _options.TimeProvider);
        _tracker.Track(lease);
        _hooks.Audit(LeaseAuditKind.Granted, lease.Id, name, TimeSpan.Zero, $"ttl {ttl.TotalMilliseconds:0} ms");
        return Task.FromResult(lease);
    }

    private int Store(string name, SecretBuffer secret)
    {
        VaultState before = State;
        int length = secret.Length;
        if (_secrets.TryGetValue(name, out SecretBuffer? previous))
        {
            previous.Dispose();
        }

        _secrets[name] = secret;
        _locked.TryRemove(name, out _);
        RaiseIfChanged(before, $"secret '{name}' stored");
        return length;
    }

    private void RaiseIfChanged(VaultState before, string reason)
    {
        VaultState now = State;
        if (now != before)
        {
            StateChanged?.Invoke(this, new VaultStateChanged(before, now, reason, Environment.ProcessId, 0));
        }
    }

    private void ThrowIfStopped()
    {
        if (Volatile.Read(ref _stopped) != 0)
        {
            throw new VaultUnavailableException("The test vault is stopped.", VaultState.Stopped);
        }
    }
}
