using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Configuration;
using Akka.Serialization;
using ActorVault.Memory;

namespace ActorVault.Serialization;

/// <summary>
/// Takes the place of Akka's Newtonsoft.Json serializer (identifier 1, bound to <c>System.Object</c>):
/// a type without an explicit binding fails to serialize, and an inbound frame that names the JSON
/// serializer is refused before any JSON is parsed (no TypeNameHandling gadget can run).
/// </summary>
internal sealed class RefusingJsonSerializer : Serializer
{
    public RefusingJsonSerializer(ExtendedActorSystem system)
        : base(system)
    {
    }

    public RefusingJsonSerializer(ExtendedActorSystem system, Config config)
        : base(system)
    {
    }

    public override int Identifier => 1;

    public override bool IncludeManifest => true;

    public override byte[] ToBinary(object obj) =>
        obj is SecretBuffer
            ? throw new SecretSerializationException("SecretBuffer holds secret bytes and is never serialized.")
            : throw new SerializationException($"{obj?.GetType().FullName ?? "null"} has no serializer on the ActorVault link (JSON fallback is disabled).");

    public override object FromBinary(byte[] bytes, Type type) =>
        throw new SerializationException("ActorVault refuses inbound JSON-serialized messages.");
}

/// <summary>
/// The one message that crosses without an envelope: <see cref="Protocol.Refused"/>, the answer to an
/// unauthenticated sender. A fixed, tiny format (UTF-8 reason, at most 256 bytes), so that nothing
/// from an unauthenticated peer ever reaches a general-purpose deserializer.
/// </summary>
internal sealed class RefusalSerializer : SerializerWithStringManifest
{
    private const int MaxReasonBytes = 256;

    public RefusalSerializer(ExtendedActorSystem system)
        : base(system)
    {
    }

    public RefusalSerializer(ExtendedActorSystem system, Config config)
        : base(system)
    {
    }

    public override int Identifier => 7703;

    public override string Manifest(object o) => "R1";

    public override byte[] ToBinary(object obj) => obj is Protocol.Refused refused
        ? System.Text.Encoding.UTF8.GetBytes(refused.Reason.Length > 128 ? refused.Reason[..128] : refused.Reason)
        : throw new SerializationException($"The refusal serializer only writes Refused, not {obj?.GetType().FullName}.");

    public override object FromBinary(byte[] bytes, string manifest) =>
        manifest == "R1" && bytes is { Length: <= MaxReasonBytes }
#pragma warning disable RS0030 // a refusal reason from the wire: public text, never a secret
            ? new Protocol.Refused(System.Text.Encoding.UTF8.GetString(bytes))
#pragma warning restore RS0030
            : throw new SerializationException("Malformed refusal.");
}

/// <summary>Bound to <see cref="SecretBuffer"/>: sending one anywhere fails with a clear error.</summary>
internal sealed class SecretRefusingSerializer : Serializer
{
    public SecretRefusingSerializer(ExtendedActorSystem system)
        : base(system)
    {
    }

    public SecretRefusingSerializer(ExtendedActorSystem system, Config config)
        : base(system)
    {
    }

    public override int Identifier => 7702;

    public override bool IncludeManifest => false;

    public override byte[] ToBinary(object obj) =>
        throw new SecretSerializationException($"{obj?.GetType().Name} holds secret bytes and is never serialized; send a sealed form instead.");

    public override object FromBinary(byte[] bytes, Type type) =>
        throw new SecretSerializationException("Secret buffers are never deserialized.");
}
