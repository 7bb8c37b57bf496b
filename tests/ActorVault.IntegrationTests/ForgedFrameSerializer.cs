using Akka.Actor;
using Akka.Configuration;
using Akka.Serialization;
using ActorVault.Serialization;

namespace ActorVault.IntegrationTests;

/// <summary>Raw bytes that the rogue sends as if they were an ActorVault envelope frame.</summary>
public sealed record ForgedFrame(byte[] Bytes);

/// <summary>
/// The rogue's envelope serializer: same identifier and manifest as ActorVault's, so the vault decodes
/// whatever bytes the rogue chooses with its real envelope serializer. Real envelopes pass through.
/// </summary>
public sealed class ForgedFrameSerializer : SerializerWithStringManifest
{
    public static readonly Config Config = ConfigurationFactory.ParseString("""
        akka.actor.serializers.actorvault-envelope = "ActorVault.IntegrationTests.ForgedFrameSerializer, ActorVault.IntegrationTests"
        akka.actor.serialization-bindings {
          "ActorVault.IntegrationTests.ForgedFrame, ActorVault.IntegrationTests" = actorvault-envelope
        }
        akka.actor.serialization-identifiers {
          "ActorVault.IntegrationTests.ForgedFrameSerializer, ActorVault.IntegrationTests" = 7701
        }
        """);

    private readonly EnvelopeSerializer _real;

    public ForgedFrameSerializer(ExtendedActorSystem system)
        : base(system) => _real = new EnvelopeSerializer(system);

    public override int Identifier => 7701;

    public override string Manifest(object o) => "E1";

    public override byte[] ToBinary(object obj) => obj is ForgedFrame forged ? forged.Bytes : _real.ToBinary(obj);

    public override object FromBinary(byte[] bytes, string manifest) => _real.FromBinary(bytes, manifest);
}
