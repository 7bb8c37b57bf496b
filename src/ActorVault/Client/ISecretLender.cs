using ActorVault.Memory;

namespace ActorVault;

/// <summary>
/// What lends a secret inside a callback: the real vault (<see cref="VaultClient"/>), a standalone
/// host's client (<see cref="Standalone.StandaloneVaultClient"/>) and the TestKit's test vault. One
/// method, one lease implementation behind all three; every other overload is written once, in
/// <see cref="SecretLenderExtensions"/>.
/// </summary>
public interface ISecretLender
{
    /// <summary>
    /// Leases secret <paramref name="name"/> for the duration of <paramref name="callback"/>: the bytes
    /// arrive straight into secret memory, the callback runs, and they are zeroed when it ends —
    /// return, exception, cancellation — or at the lease's deadline even if it still runs, or when the
    /// lease is revoked or the vault is lost. A lease that ended before its callback returned makes the
    /// call throw the exception of its cause (<see cref="LeaseExpiredException"/>,
    /// <see cref="LeaseRevokedException"/>, <see cref="VaultUnavailableException"/>, or
    /// <see cref="OperationCanceledException"/> for <paramref name="cancellationToken"/>), never return a value.
    /// Other errors: <see cref="SecretLockedException"/>, <see cref="VaultOperationException"/> (not found),
    /// <see cref="LeaseCapacityException"/>.
    /// </summary>
    Task<T> WithSecretAsync<T>(string name, Func<SecretLease, ValueTask<T>> callback, LeaseOptions? options = null, CancellationToken cancellationToken = default);
}

/// <summary>The convenience overloads of <see cref="ISecretLender.WithSecretAsync{T}"/>, for every lender.</summary>
public static class SecretLenderExtensions
{
    /// <summary>As <see cref="ISecretLender.WithSecretAsync{T}"/>, with a synchronous callback that receives the bytes.</summary>
    public static Task<T> WithSecretAsync<T>(this ISecretLender lender, string name, SecretReadFunc<T> callback, LeaseOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lender);
        ArgumentNullException.ThrowIfNull(callback);
        return lender.WithSecretAsync(name, lease => ValueTask.FromResult(lease.Use(callback)), options, cancellationToken);
    }

    /// <summary>As <see cref="ISecretLender.WithSecretAsync{T}"/>, for a synchronous callback with no result.</summary>
    public static Task WithSecretAsync(this ISecretLender lender, string name, SecretReadAction callback, LeaseOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lender);
        ArgumentNullException.ThrowIfNull(callback);
        return lender.WithSecretAsync(name, lease =>
        {
            lease.Use(callback);
            return ValueTask.FromResult(true);
        }, options, cancellationToken);
    }

    /// <summary>As <see cref="ISecretLender.WithSecretAsync{T}"/> for the default secret (<see cref="VaultClient.DefaultSecretName"/>).</summary>
    public static Task<T> WithSecretAsync<T>(this ISecretLender lender, Func<SecretLease, ValueTask<T>> callback, LeaseOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lender);
        return lender.WithSecretAsync(Agent.SecretNames.Default, callback, options, cancellationToken);
    }

    /// <summary>Seed parity (<c>withDecryptedPassword(callback)</c>): a lease of the default secret.</summary>
    public static Task<T> WithDecryptedPasswordAsync<T>(this ISecretLender lender, Func<SecretLease, ValueTask<T>> callback, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lender);
        return lender.WithSecretAsync(Agent.SecretNames.Default, callback, null, cancellationToken);
    }
}
