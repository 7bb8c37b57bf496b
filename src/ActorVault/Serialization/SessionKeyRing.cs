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
        string role = system.Settings.Config.GetString("actorvault.link.role", "client");
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

    /// <summary>Adds a session unless one with its id exists (then the caller still owns <paramref name="keys"/>).</summary>
    public bool TryAdd(SessionKeys keys) => _sessions.TryAdd(keys.Id, keys);

    /// <summary>
    /// Set on the standalone host's system: how a frame of a session the ring does not know yet may
    /// open one (keys derived from the host's client key). Null everywhere else: unknown sessions are refused.
    /// </summary>
    public ISessionAdmission? Admission { get; set; }

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

/// <summary>Derives candidate keys for an unknown session id; the frame must authenticate under them before the session is admitted.</summary>
internal interface ISessionAdmission
{
    /// <summary>Candidate keys, or null with a reason when the id may not open a session (stale, retired, too many sessions).</summary>
    SessionKeys? Candidate(SessionId id, out string? reason);

    /// <summary>A candidate authenticated and was added to the ring.</summary>
    void Admitted(SessionId id);

    /// <summary>A candidate did not authenticate (or lost a race): its reserved place is free again.</summary>
    void Abandoned(SessionId id);
}

internal sealed class SessionKeyRingProvider : ExtensionIdProvider<SessionKeyRing>
{
    public override SessionKeyRing CreateExtension(ExtendedActorSystem system) => new(system);
}
