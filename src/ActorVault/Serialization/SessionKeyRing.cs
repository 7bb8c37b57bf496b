using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Configuration;
using ActorVault.Crypto;
using ActorVault.Protocol;

namespace ActorVault.Serialization;

/// <summary>
/// The session keys an actor system's envelope serializer may use, and which side of the link the
/// system is. The vault's system holds one session; the application's link system one per live vault.
/// Removing a session zeroes its keys.
/// </summary>
internal sealed class SessionKeyRing : IExtension
{
    private readonly ConcurrentDictionary<SessionId, SessionKeys> _sessions = new();

    public SessionKeyRing(ExtendedActorSystem system)
    {
        string role = new Configuration.Settings(system.Settings.Config, "actorvault.link").String("role");
        Sending = role switch
        {
            "vault" => LinkDirection.VaultToClient,
            "client" => LinkDirection.ClientToVault,
            _ => throw new ConfigurationException($"actorvault.link.role must be 'vault' or 'client', not '{role}'."),
        };
    }

    /// <summary>The direction of envelopes this system seals; it accepts only the opposite one.</summary>
    public LinkDirection Sending { get; }

    public LinkDirection Receiving => Sending == LinkDirection.ClientToVault ? LinkDirection.VaultToClient : LinkDirection.ClientToVault;

    public int Count => _sessions.Count;

    public static SessionKeyRing For(ActorSystem system) => system.WithExtension<SessionKeyRing, SessionKeyRingProvider>();

    public void Add(SessionKeys keys)
    {
        if (!_sessions.TryAdd(keys.Id, keys))
        {
            throw new InvalidOperationException($"Session {keys.Id} is already registered.");
        }
    }

    public bool TryGet(SessionId id, out SessionKeys keys) => _sessions.TryGetValue(id, out keys!);

    /// <summary>Forgets a session and zeroes its keys.</summary>
    public void Remove(SessionId id)
    {
        if (_sessions.TryRemove(id, out SessionKeys? keys))
        {
            keys.Dispose();
        }
    }

    public void Clear()
    {
        foreach (SessionId id in _sessions.Keys)
        {
            Remove(id);
        }
    }
}

internal sealed class SessionKeyRingProvider : ExtensionIdProvider<SessionKeyRing>
{
    public override SessionKeyRing CreateExtension(ExtendedActorSystem system) => new(system);
}
