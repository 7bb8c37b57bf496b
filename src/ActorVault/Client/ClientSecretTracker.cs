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

    public int Count => _live.Count;

    public void Track(SecretBuffer buffer) => _live.TryAdd(buffer, 0);

    public void Untrack(SecretBuffer buffer) => _live.TryRemove(buffer, out _);

    /// <summary>
    /// Zeroes every tracked buffer now — even one a callback is reading (<see cref="SecretBuffer.Wipe"/>) —
    /// then disposes it; returns how many.
    /// </summary>
    public int ZeroAll(string reason)
    {
        int count = 0;
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
