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
