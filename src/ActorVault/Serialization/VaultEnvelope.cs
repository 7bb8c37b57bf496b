using Akka.Actor;
using ActorVault.Protocol;

namespace ActorVault.Serialization;

/// <summary>
/// One message of a session, as actors see it. On the wire (through <see cref="EnvelopeSerializer"/>)
/// the body is AES-256-GCM sealed under the session's envelope key with a counter nonce, so a message
/// that reaches an actor as a <see cref="VaultEnvelope"/> was sent by a holder of the session key,
/// exactly once. Messages between actors of one process are not serialized and need no sealing.
/// </summary>
internal sealed record VaultEnvelope(SessionId Session, IVaultProtocolMessage Body)
{
    public override string ToString() => $"VaultEnvelope({Session}, {Body.GetType().Name})";
}

/// <summary>
/// What <see cref="EnvelopeSerializer"/> hands over instead of throwing when an inbound frame fails
/// authentication or parsing: the body was never deserialized. The guardian answers it with
/// <see cref="Refused"/> and an audit line.
/// </summary>
internal sealed record RejectedEnvelope(string Reason, string SessionHint);

/// <summary>Whom the refusing actors (the vault's guardian, the standalone host's gateway) answer.</summary>
internal static class RefusalPolicy
{
    /// <summary>
    /// Only a sender on this machine (the vault link's socket transport, or loopback for the standalone
    /// host), never the refusing actor itself nor dead letters: a remote
    /// message's sender is the sender's claim, so answering anyone else would let a rogue make the
    /// actor open connections elsewhere or refuse itself in a loop. (Refusals themselves are never answered.)
    /// </summary>
    public static bool MayAnswer(IActorRef sender, IActorRef self, ActorSystem system) =>
        !sender.IsNobody() && !sender.Equals(self) && !sender.Equals(system.DeadLetters) && (sender.Path.Address.Host is null or "127.0.0.1" || sender.Path.Address.Protocol == $"akka.{Transport.LinkSocketTransport.Scheme}");
}
