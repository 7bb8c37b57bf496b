using ActorVault.Memory;

namespace ActorVault.Standalone;

/// <summary>
/// Leases secrets from a running standalone host (<c>actorvault serve</c>) — the .NET counterpart of
/// <c>actorvault exec</c>. Connecting reads the host's info file (it must be this user's and
/// <c>0600</c>), opens a session of its own (keys derived from the client key, which is zeroed at once)
/// and proves the key. Each lease arrives sealed to the session, is opened straight into secret memory,
/// and is zeroed when the callback returns or throws — or at the deadline, even while it still runs.
/// </summary>
public sealed class StandaloneVaultClient : IAsyncDisposable
{
    private readonly HostConnection _connection;

    private StandaloneVaultClient(HostConnection connection) => _connection = connection;

    /// <summary>Process id of the host.</summary>
    public int HostPid => _connection.HostPid;

    /// <summary>
    /// Connects to the host whose info file is <paramref name="infoFile"/> (default
    /// <c>$XDG_RUNTIME_DIR/actorvault/host.info</c>). Throws <see cref="HostConnectionException"/> with one
    /// clear sentence when there is no host, the file is not private, or the host refuses this client.
    /// </summary>
    public static async Task<StandaloneVaultClient> ConnectAsync(string? infoFile = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        new(await HostConnection.ConnectAsync(infoFile ?? HostInfoFile.DefaultPath, timeout ?? TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false));

    /// <summary>
    /// Leases secret <paramref name="name"/> for <paramref name="callback"/>; its bytes are zeroed when the
    /// callback ends, or after <paramref name="ttl"/> (default 30 s, capped by the host) even if it still
    /// runs — then the call throws <see cref="LeaseExpiredException"/>, never the callback's value. Other
    /// errors: <see cref="SecretLockedException"/>, <see cref="VaultOperationException"/>,
    /// <see cref="HostConnectionException"/>.
    /// </summary>
    public async Task<T> WithSecretAsync<T>(string name, SecretReadFunc<T> callback, TimeSpan? ttl = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(callback);
        TimeSpan deadline = ttl ?? TimeSpan.FromSeconds(30);
        using SecretBuffer secret = await _connection.LeaseAsync(name, deadline, cancellationToken).ConfigureAwait(false);
        using var expiry = new Timer(static s => ((SecretBuffer)s!).Wipe("lease deadline"), secret, deadline, Timeout.InfiniteTimeSpan);
        T result;
        try
        {
            result = secret.Use(callback);
        }
        catch (Exception e) when (secret.IsZeroed)
        {
            throw new LeaseExpiredException($"The lease of secret '{name}' passed its deadline ({deadline.TotalMilliseconds:0} ms) while the callback ran; its bytes are zeroed.", e);
        }

        // A value computed from bytes that were zeroed under it is never returned.
        return secret.IsZeroed
            ? throw new LeaseExpiredException($"The lease of secret '{name}' passed its deadline ({deadline.TotalMilliseconds:0} ms) before the callback returned; its bytes are zeroed.")
            : result;
    }

    /// <summary>Closes the session (the host zeroes its keys) and zeroes them here.</summary>
    public ValueTask DisposeAsync() => _connection.DisposeAsync();
}
