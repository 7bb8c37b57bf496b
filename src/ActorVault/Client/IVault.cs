using ActorVault.Memory;

namespace ActorVault;

/// <summary>
/// ActorVault's public API: a password (or any small secret) kept in a hardened vault process and
/// lent to application code only inside a callback. Implemented by <see cref="VaultClient"/> (the
/// real vault child) and by ActorVault.TestKit's in-process test vault.
/// </summary>
public interface IVault : ISecretLender, IAsyncDisposable
{
    /// <summary>The vault's state: starting, locked (no secret), unlocked, restarting, stopped.</summary>
    VaultState State { get; }

    /// <summary>Raised when <see cref="State"/> changes (from an actor thread).</summary>
    event EventHandler<VaultStateChanged>? StateChanged;

    /// <summary>
    /// Seed parity (<c>readInPassword(prompt)</c>): the default secret, read by the vault from the
    /// terminal with echo off when the application has one, otherwise from the application's standard
    /// input (a pipe or file), read into secret memory, sealed to the vault and zeroed here.
    /// </summary>
    Task<int> ReadInPasswordAsync(string prompt = "Password: ", CancellationToken cancellationToken = default);

    /// <summary>Seed parity (<c>generateSecureKeypair()</c>).</summary>
    Task<SecureHeapUsage> GenerateSecureKeypairAsync(int bits = 0, CancellationToken cancellationToken = default);

    /// <summary>Seed parity (<c>verifyExpectedAllocation()</c>).</summary>
    Task<SecureHeapUsage> VerifyExpectedAllocationAsync(CancellationToken cancellationToken = default);

    /// <summary>Seed parity (<c>checkSecureHeapEnabled()</c>).</summary>
    Task<bool> CheckSecureHeapEnabledAsync(CancellationToken cancellationToken = default);

    /// <summary>Hands secret <paramref name="name"/> to the vault; <paramref name="secret"/> is zeroed before this returns.</summary>
    Task SetSecretAsync(string name, Span<byte> secret, CancellationToken cancellationToken = default);

    /// <summary>Has the vault read secret <paramref name="name"/> from one of its own sources.</summary>
    Task<int> ReadSecretAsync(string name, SecretSource source, int maxBytes = 4096, CancellationToken cancellationToken = default);

    /// <summary>Drops secret <paramref name="name"/>: its live leases are revoked, later leases fail with <see cref="SecretLockedException"/>.</summary>
    Task<bool> LockSecretAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Revokes one live lease; its bytes are zeroed now. False when it had already ended.</summary>
    Task<bool> RevokeLeaseAsync(Guid leaseId, CancellationToken cancellationToken = default);

    /// <summary>Revokes every live lease (of <paramref name="name"/>, or of all secrets); returns how many.</summary>
    Task<int> RevokeAllLeasesAsync(string? name = null, CancellationToken cancellationToken = default);

    /// <summary>The vault's status.</summary>
    Task<VaultStatus> GetStatusAsync(CancellationToken cancellationToken = default);

    /// <summary>Stops the vault (stdin closed; SIGKILL after the grace period) and zeroes every buffer.</summary>
    Task StopAsync(TimeSpan? grace = null);
}
