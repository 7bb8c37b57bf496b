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
