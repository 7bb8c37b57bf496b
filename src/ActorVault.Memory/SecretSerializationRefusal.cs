using System.Collections.Concurrent;
using System.Text.Json;
using Hyperion;
using Hyperion.SerializerFactories;
using Hyperion.ValueSerializers;

namespace ActorVault.Memory;

internal sealed class SecretBufferSystemTextJsonRefusal : System.Text.Json.Serialization.JsonConverter<SecretBuffer>
{
    public override SecretBuffer Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        throw new SecretSerializationException(typeof(SecretBuffer));

    public override void Write(Utf8JsonWriter writer, SecretBuffer value, JsonSerializerOptions options) =>
        throw new SecretSerializationException(typeof(SecretBuffer));
}

internal sealed class SecretBufferNewtonsoftRefusal : Newtonsoft.Json.JsonConverter
{
    public override bool CanConvert(Type objectType) => objectType == typeof(SecretBuffer);

    public override object ReadJson(Newtonsoft.Json.JsonReader reader, Type objectType, object? existingValue, Newtonsoft.Json.JsonSerializer serializer) =>
        throw new SecretSerializationException(typeof(SecretBuffer));

    public override void WriteJson(Newtonsoft.Json.JsonWriter writer, object? value, Newtonsoft.Json.JsonSerializer serializer) =>
        throw new SecretSerializationException(typeof(SecretBuffer));
}

/// <summary>
/// Serializer plumbing that makes secret-holding types refuse serialization with a clear
/// <see cref="SecretSerializationException"/>. System.Text.Json and Newtonsoft.Json refuse
/// <see cref="SecretBuffer"/> by attribute; Hyperion needs <see cref="HyperionRefusal"/> in its
/// options (ActorVault's Akka serializer installs it; a Hyperion without it still fails, less clearly).
/// </summary>
public static class SecretSerialization
{
    /// <summary>A Hyperion factory that throws <see cref="SecretSerializationException"/> for secret types.</summary>
    public static ValueSerializerFactory HyperionRefusal { get; } = new HyperionRefusalFactory();

    /// <summary>True for the types that must never be serialized.</summary>
    public static bool IsSecretType(Type type) => type == typeof(SecretBuffer);

    private sealed class HyperionRefusalFactory : ValueSerializerFactory
    {
        public override bool CanSerialize(Serializer serializer, Type type) => IsSecretType(type);

        public override bool CanDeserialize(Serializer serializer, Type type) => IsSecretType(type);

        public override ValueSerializer BuildSerializer(Serializer serializer, Type type, ConcurrentDictionary<Type, ValueSerializer> typeMapping) =>
            throw new SecretSerializationException(type);
    }
}
