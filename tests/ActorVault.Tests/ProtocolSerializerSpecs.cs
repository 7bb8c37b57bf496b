using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using ActorVault.Memory;
using ActorVault.Protocol;
using ActorVault.Serialization;

namespace ActorVault.Tests;

/// <summary>Restricted Hyperion, the refusing JSON replacement, and the bindings of the reference config.</summary>
public sealed class ProtocolSerializerSpecs : Akka.TestKit.Xunit2.TestKit
{
    private readonly ProtocolSerializer _serializer;

    public ProtocolSerializerSpecs()
        : base(SpecConfig.Client) => _serializer = new ProtocolSerializer((ExtendedActorSystem)Sys);

    public static TheoryData<object> Messages()
    {
        var keystore = new KeystoreInfo(2048, [1, 2, 3], 1664, 32768, 1);
        var memory = new MemoryInfo("MemfdSecret", 4096, 2, true);
        var sealedValue = new PublicKeySealed([1], [2], [3], [4], [5]);
        Guid id = Guid.NewGuid();
        return new TheoryData<object>
        {
            new Hello(id, 1), new Ping(id, 2), new GetVaultStatus(id), new GenerateKeypair(id, 3072), new GetSecureHeapReport(id),
            new ReadSecret(id, "n", SecretSourceKind.File, "/p", -1, "P: ", true, "A: ", 64), new SetSecret(id, "n", sealedValue),
            new VerifySecret(id, "n", sealedValue), new LockSecret(id, "n"),
            new Welcome(id, 7, keystore, memory), new Pong(id, 3), new VaultStatusReply(id, 7, keystore, memory, ["a", "b"]),
            new KeypairGenerated(id, keystore), new SecureHeapReport(id, true, 1, 2, 2048, true), new SecretStored(id, "n", 3),
            new SecretVerified(id, "n", true), new SecretLocked(id, "n", false),
            new RequestFailed(id, VaultErrorCode.SecretInput, "m", 4), new KeystoreReset("r", keystore), new Refused("no"),
            new AcquireLease(id, "n", 30_000), new RevokeLeases(id, Guid.NewGuid(), "n"), new RevokeLeases(id, Guid.Empty, null),
            new LeaseReleased(id, 12, "returned"), new LeaseRevoked(id, "r"), new LeaseExpired(id),
            new LeaseGranted(id, Guid.NewGuid(), "n", 30_000, [1], [2], [3]), new LeasesRevoked(id, 2),
        };
    }

    [Theory]
    [MemberData(nameof(Messages))]
    public void ProtocolMessage_RoundTrips(object message)
    {
        byte[] bytes = _serializer.ToBinary(message);
        object back = _serializer.FromBinary(bytes, typeof(object));
        Assert.Equal(message.GetType(), back.GetType());
        Assert.Equal(bytes, _serializer.ToBinary(back)); // every field survived (records with arrays compare arrays by reference)
    }

    [Fact]
    public void EveryProtocolType_IsCoveredByTheRoundTripTheory()
    {
        HashSet<Type> covered = [.. Messages().Cast<object[]>().Select(row => row[0].GetType())];
        Type[] protocol = [.. typeof(IVaultProtocolMessage).Assembly.GetTypes().Where(t => t.IsClass && !t.IsAbstract && typeof(IVaultProtocolMessage).IsAssignableFrom(t))];
        Assert.All(protocol, t => Assert.Contains(t, covered));
    }

    [Fact]
    public void InProcessOnlyMessages_FaultInjectionAndTheSupervisorsOwn_CannotCrossTheLink()
    {
        // The fault-injection hooks and the supervisor/run messages are in-process only: the link's
        // serializer refuses them, so no peer can send one (the envelope body must be a protocol type).
        Type[] inProcess =
        [
            typeof(Vault.InjectGuardianFault), typeof(Client.SupervisorProtocol.InjectFault), typeof(Client.SupervisorProtocol.RunStatus),
            typeof(Client.SupervisorProtocol.RunReady), typeof(Client.SupervisorProtocol.Request), typeof(Client.SupervisorProtocol.Stop),
        ];
        Assert.All(inProcess, t => Assert.False(ProtocolTypes.IsAllowed(t), $"{t} would be serializable on the link"));
        Assert.All(inProcess, t => Assert.False(ProtocolTypes.IsAllowedName(t.AssemblyQualifiedName!)));
    }

    [Fact]
    public void ProtocolTypes_HoldNoSecretField()
    {
        foreach (Type t in ProtocolTypes.All)
        {
            foreach (var field in t.GetFields(System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic))
            {
                Assert.False(SecretSerialization.IsSecretType(field.FieldType), $"{t.Name}.{field.Name} holds a secret type");
                Assert.NotEqual(typeof(object), field.FieldType);
            }
        }
    }

    [Fact]
    public void ToBinary_NonProtocolType_IsRefusedBeforeHyperionRuns()
    {
        var e = Assert.Throws<SerializationException>(() => _serializer.ToBinary(new FileInfo("/etc/hostname")));
        Assert.Contains("only ActorVault protocol messages", e.Message, StringComparison.Ordinal);
        Assert.Throws<SerializationException>(() => _serializer.ToBinary(new Dictionary<string, string>()));
    }

    [Fact]
    public void ToBinary_SecretBuffer_IsRefusedClearly()
    {
        using SecretBuffer secret = SecretMemory.CopyFrom("x"u8);
        Assert.Throws<SecretSerializationException>(() => _serializer.ToBinary(secret));
        Serializer bound = Sys.Serialization.FindSerializerFor(secret);
        Assert.Throws<SecretSerializationException>(() => bound.ToBinary(secret));
    }

    [Fact]
    public void FromBinary_TypeOffTheAllowList_IsRefused()
    {
        // Bytes made by an unrestricted Hyperion, naming a type that is not ours (a classic gadget shape).
        var unrestricted = new Hyperion.Serializer();
        using var stream = new MemoryStream();
        unrestricted.Serialize(new NotAProtocolMessage("payload"), stream);
        byte[] bytes = stream.ToArray();

        Assert.ThrowsAny<Exception>(() => _serializer.FromBinary(bytes, typeof(object)));
        Assert.False(ProtocolTypes.IsAllowedName(typeof(NotAProtocolMessage).AssemblyQualifiedName!));
        Assert.False(ProtocolTypes.IsAllowedName("System.IO.FileInfo, System.Private.CoreLib"));
        Assert.False(ProtocolTypes.IsAllowedName("System.Collections.Generic.List`1[[System.Object]], System.Private.CoreLib"));
        Assert.False(ProtocolTypes.IsAllowedName("ActorVault.Protocol.Hello, Evil"));
        Assert.True(ProtocolTypes.IsAllowedName("ActorVault.Protocol.Hello, ActorVault"));
        Assert.True(ProtocolTypes.IsAllowedName("ActorVault.Protocol.Hello, ActorVault, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"));
    }

    [Fact]
    public void UnboundType_HasNoJsonFallback_AndInboundJsonIsRefused()
    {
        Serializer fallback = Sys.Serialization.FindSerializerFor(new NotAProtocolMessage("x"));
        Assert.IsType<RefusingJsonSerializer>(fallback);
        Assert.Equal(1, fallback.Identifier);
        Assert.Throws<SerializationException>(() => fallback.ToBinary(new NotAProtocolMessage("x")));
        Assert.Throws<SerializationException>(() => Sys.Serialization.Deserialize("{\"$type\":\"System.IO.FileInfo\"}"u8.ToArray(), 1, typeof(object)));
    }

    [Fact]
    public void Bindings_OnlyEnvelopeAndRefusalCrossTheWire_NoHyperionOnTheWire()
    {
        Assert.IsType<EnvelopeSerializer>(Sys.Serialization.FindSerializerForType(typeof(VaultEnvelope)));
        Assert.IsType<RefusalSerializer>(Sys.Serialization.FindSerializerForType(typeof(Refused)));
        // Protocol bodies never travel bare: outside an envelope they have no serializer.
        Assert.IsType<RefusingJsonSerializer>(Sys.Serialization.FindSerializerForType(typeof(Hello)));
        // A frame that names Hyperion's identifier finds no serializer at all.
        byte[] hyperionBytes = _serializer.ToBinary(new Ping(Guid.NewGuid(), 1));
        Assert.ThrowsAny<Exception>(() => Sys.Serialization.Deserialize(hyperionBytes, -5, "ActorVault.Protocol.Ping, ActorVault"));
    }

    [Fact]
    public void Refusal_RoundTrips_AndOversizedOrForeignBytesAreRefused()
    {
        var refusal = new RefusalSerializer((ExtendedActorSystem)Sys);
        Assert.Equal("not authenticated for this vault", ((Refused)refusal.FromBinary(refusal.ToBinary(new Refused("not authenticated for this vault")), "R1")).Reason);
        Assert.Throws<SerializationException>(() => refusal.FromBinary(new byte[257], "R1"));
        Assert.Throws<SerializationException>(() => refusal.FromBinary([1], "X"));
    }

    public sealed record NotAProtocolMessage(string Value);
}
