using ActorVault.Agent;
using ActorVault.Client;
using ActorVault.Memory;
using ActorVault.Memory.Readers;

namespace ActorVault.Standalone;

/// <summary>
/// Leases secrets from a running standalone host (<c>actorvault serve</c>) — the .NET counterpart of
/// <c>actorvault exec</c>. It connects to the host's Unix socket (<c>$ACTORVAULT_SOCK</c>, else the
/// per-user default) and checks with the kernel that the host runs as this user. Each lease arrives
/// straight into secret memory and runs through the same lease code as <see cref="VaultClient"/>: its
/// bytes are zeroed when the callback returns or throws, at the deadline even while it still runs, and
/// when the host revokes it (<c>actorvault lock</c>, the vault lost its secret, the host stopped).
/// </summary>
public sealed class StandaloneVaultClient : ISecretLender, IAsyncDisposable
{
    /// <summary>The same lease caps as an embedded client's (<c>actorvault.lease</c> in hocon/actorvault-link.conf).</summary>
    private static readonly Configuration.Settings Leases = new(Configuration.ActorVaultConfig.Link, "actorvault.lease");
    private static readonly int MaxConcurrentLeases = Leases.Int("max-concurrent");
    private static readonly TimeSpan CapacityWait = Leases.Time("capacity-wait");

    private readonly AgentClient _agent;
    private readonly TimeSpan _timeout;
    private readonly ClientSecretTracker _tracker = new();
    private readonly SemaphoreSlim _capacity = new(MaxConcurrentLeases, MaxConcurrentLeases);
    private readonly LeaseHooks _hooks;
    private readonly CancellationTokenRegistration _onClosed;

    private StandaloneVaultClient(AgentClient agent, TimeSpan timeout)
    {
        _agent = agent;
        _timeout = timeout;
        _hooks = new LeaseHooks(AcquireAsync, (lease, _, _) => _agent.Tell(new AgentHeader(AgentKind.Release, 0) { LeaseId = lease.Id }), static (_, _, _, _, _) => { });
        _agent.Revoked += (id, reason) => _tracker.End(id, LeaseEnd.Revoked, reason);
        _onClosed = _agent.Closed.Register(() => _tracker.EndAll(LeaseEnd.VaultLost, "the actorvault host closed the connection"));
    }

    /// <summary>Process id of the host.</summary>
    public int HostPid => _agent.HostPid;

    /// <summary>The socket this client is connected to.</summary>
    public string SocketPath => _agent.SocketPath;

    /// <summary>
    /// Connects to the host at <paramref name="socketPath"/> (default: <c>$ACTORVAULT_SOCK</c>, else
    /// <c>$XDG_RUNTIME_DIR/actorvault/agent.sock</c>). Throws <see cref="HostConnectionException"/> with
    /// one clear sentence when no host serves there or the host is not this user's.
    /// </summary>
    public static Task<StandaloneVaultClient> ConnectAsync(string? socketPath = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            return Task.FromResult(new StandaloneVaultClient(AgentClient.Connect(socketPath), timeout ?? TimeSpan.FromSeconds(30)));
        }
        catch (IOException e)
        {
            throw new HostConnectionException(e.Message, e);
        }
    }

    /// <summary>
    /// Leases secret <paramref name="name"/> for <paramref name="callback"/> (see <see cref="ISecretLender"/>).
    /// <see cref="LeaseOptions.Ttl"/> defaults to the host's lease TTL, and the host caps it at its
    /// <c>max-lease-ttl</c>; the deadline is what the host granted. The host revokes a lease on
    /// <c>actorvault lock</c>, when the vault loses its secret, and when it stops. Other errors:
    /// <see cref="HostConnectionException"/>.
    /// </summary>
    public Task<T> WithSecretAsync<T>(string name, Func<SecretLease, ValueTask<T>> callback, LeaseOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(callback);
        if (options?.Ttl is { } t && t <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), t, "A lease's deadline must be positive.");
        }

        return LeaseRunner.RunAsync(name, callback, options?.Ttl ?? TimeSpan.Zero, options?.CapacityWait ?? CapacityWait, MaxConcurrentLeases, _capacity, _tracker, _hooks, cancellationToken);
    }

    /// <summary>Zeroes every live lease and closes the connection.</summary>
    public ValueTask DisposeAsync()
    {
        _onClosed.Dispose();
        _tracker.EndAll(LeaseEnd.VaultLost, "the client was disposed");
        _agent.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Maps a refusal of the host to the exception <see cref="VaultClient"/> throws for the same cause.</summary>
    internal static Exception ToException(AgentRequestException e) => e.Error switch
    {
        AgentError.Locked => new SecretLockedException(e.Message),
        AgentError.Busy => new LeaseCapacityException(e.Message),
        AgentError.Unavailable => new VaultUnavailableException(e.Message, VaultState.Restarting),
        AgentError.SecretInput => new SecretInputException(SecretInputError.Empty, e.Message),
        AgentError.BadRequest => new VaultOperationException(VaultError.BadRequest, e.Message),
        _ => new HostConnectionException(e.Message, e),
    };

    private async Task<SecretLease> AcquireAsync(string name, TimeSpan ttl, CancellationToken cancellationToken)
    {
        AgentFrame frame;
        try
        {
            frame = await _agent.RequestAsync(
                new AgentHeader(AgentKind.Lease, 0) { Name = name, TtlMs = ttl > TimeSpan.Zero ? (long)Math.Ceiling(ttl.TotalMilliseconds) : null },
                null,
                -1,
                _timeout,
                cancellationToken).ConfigureAwait(false);
        }
        catch (AgentRequestException e)
        {
            throw ToException(e);
        }
        catch (IOException e)
        {
            throw new HostConnectionException(e.Message, e);
        }

        using (frame)
        {
            if (frame.Header is not { Kind: AgentKind.Granted, LeaseId: Guid id, TtlMs: long granted and > 0 } || frame.Header.Name != name || frame.Secret is null)
            {
                throw new HostConnectionException($"The actorvault host answered a lease of '{name}' with a malformed {frame.Header.Kind} frame.");
            }

            // The host's cap wins over the caller's wish; the shorter deadline is kept here.
            var lease = new SecretLease(id, name, TimeSpan.FromMilliseconds(granted), frame.TakeSecret()!);
            _tracker.Track(lease);
            return lease;
        }
    }
}
