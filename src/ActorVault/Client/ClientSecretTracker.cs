using System.Collections.Concurrent;
using ActorVault.Memory;

namespace ActorVault.Client;

/// <summary>
/// The application-side secret buffers that belong to one vault link (opened lease payloads). When the
/// vault dies or the client stops, the supervisor zeroes every one of them.
/// </summary>
internal sealed class ClientSecretTracker
{
    private readonly ConcurrentDictionary<SecretBuffer, byte> _live = new(ReferenceEqualityComparer.Instance);
    private readonly ConcurrentDictionary<Guid, SecretLease> _leases = new();

    public int Count => _live.Count;

    public int LiveLeases => _leases.Count;

    public void Track(SecretLease lease) => _leases[lease.Id] = lease;

    public void Untrack(SecretLease lease) => _leases.TryRemove(lease.Id, out _);

    /// <summary>Ends one lease (revoked or expired by the vault): its bytes are zeroed now.</summary>
    public bool End(Guid leaseId, LeaseEnd end, string reason) =>
        _leases.TryGetValue(leaseId, out SecretLease? lease) && lease.End(end, reason);

    /// <summary>Ends every lease (matching <paramref name="which"/>, if given); returns how many were live.</summary>
    public int EndAll(LeaseEnd end, string reason, Func<SecretLease, bool>? which = null)
    {
        int count = 0;
        foreach (SecretLease lease in _leases.Values)
        {
            if ((which is null || which(lease)) && lease.End(end, reason))
            {
                count++;
            }
        }

        return count;
    }

    public void Track(SecretBuffer buffer) => _live.TryAdd(buffer, 0);

    public void Untrack(SecretBuffer buffer) => _live.TryRemove(buffer, out _);

    /// <summary>
    /// Zeroes every tracked buffer now — even one a callback is reading (<see cref="SecretBuffer.Wipe"/>) —
    /// then disposes it; returns how many.
    /// </summary>
    public int ZeroAll(string reason)
    {
        int count = EndAll(LeaseEnd.VaultLost, reason);
        foreach (SecretBuffer buffer in _live.Keys)
        {
            if (_live.TryRemove(buffer, out _))
            {
                buffer.Wipe(reason);
                buffer.Dispose();
                count++;
            }
        }

        return count;
    }
}
