using System.Collections.Frozen;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using Akka.Serialization;

namespace ActorVault.Serialization;

/// <summary>
/// What a refused inbound message turns into: harmless, never serializable, handled by nobody (Akka's
/// guardians ignore it; the vault's guardian refuses it like any unauthenticated message). Returning it
/// instead of throwing keeps the one link association alive: a decoding failure must not become a
/// way to cut the vault off from its application.
/// </summary>
internal sealed record RefusedWireMessage(string What) : INoSerializationVerificationNeeded, IDeadLetterSuppression
{
    public override string ToString() => $"RefusedWireMessage({What})";
}

/// <summary>Counts and logs refusals at the serializer, rate-limited (the first few, then every 1000th).</summary>
internal static class WireRefusals
{
    private static readonly Logging.AuditThrottle Throttle = new();

    public static object Refuse(ExtendedActorSystem system, string what)
    {
        if (Throttle.Next(out long n))
        {
            system.Log.Warning("Audit: refused an inbound {0} at the serializer ({1} so far); only ActorVault's envelopes and Identify cross the link.", Logging.LogRedaction.Escape(what), n);
        }

        return new RefusedWireMessage(what);
    }
}

/// <summary>
/// Takes the place of Akka.Remote's <c>akka-misc</c> serializer (identifier 16). Outbound it is that
/// serializer; inbound it decodes only what the link needs — <c>Identify</c>, <c>ActorIdentity</c>,
/// actor references, <c>Status</c> and remote-watch heartbeats — and turns everything else
/// (<c>Kill</c>, <c>PoisonPill</c>, remote scopes, routers, configs) into a <see cref="RefusedWireMessage"/>
/// before it is parsed. Akka.NET's <c>untrusted-mode</c> lets <c>Kill</c> through (it is not
/// <c>IPossiblyHarmful</c>); this does not.
/// </summary>
internal sealed class FilteringMiscMessageSerializer : SerializerWithStringManifest
{
    private static readonly FrozenSet<string> Allowed = FrozenSet.Create(StringComparer.Ordinal, "ID", "AID", "AR", "RWHB", "RWHR", "STF", "STS");
    private readonly Akka.Remote.Serialization.MiscMessageSerializer _inner;

    public FilteringMiscMessageSerializer(ExtendedActorSystem system)
        : base(system) => _inner = new Akka.Remote.Serialization.MiscMessageSerializer(system);

    public FilteringMiscMessageSerializer(ExtendedActorSystem system, Config config)
        : this(system)
    {
    }

    public override int Identifier => 16;

    public override string Manifest(object o) => _inner.Manifest(o);

    public override byte[] ToBinary(object obj) => _inner.ToBinary(obj);

    public override object FromBinary(byte[] bytes, string manifest) =>
        Allowed.Contains(manifest) ? _inner.FromBinary(bytes, manifest) : WireRefusals.Refuse(system, $"akka-misc message '{manifest}'");
}

/// <summary>
/// Takes the place of an Akka serializer that nothing on the link may receive (system messages:
/// watch, terminate, supervise; remote deployment; raw protobuf): inbound, every such message
/// becomes a <see cref="RefusedWireMessage"/> unread; outbound, ActorVault never sends one.
/// </summary>
internal abstract class RefusedInboundSerializer : Serializer
{
    private readonly string _what;

    protected RefusedInboundSerializer(ExtendedActorSystem system, string what)
        : base(system) => _what = what;

    public override bool IncludeManifest => false;

    public override byte[] ToBinary(object obj) =>
        throw new SerializationException($"ActorVault does not send {_what} over its link ({obj?.GetType().Name ?? "null"}).");

    public override object FromBinary(byte[] bytes, Type type) => WireRefusals.Refuse(system, _what);
}

/// <summary>Replaces <c>akka-system-msg</c> (22): remote Watch/Unwatch/Terminate/Supervise.</summary>
internal sealed class RefusedSystemMessageSerializer(ExtendedActorSystem system) : RefusedInboundSerializer(system, "system message")
{
    public RefusedSystemMessageSerializer(ExtendedActorSystem system, Config config)
        : this(system)
    {
    }

    public override int Identifier => 22;
}

/// <summary>Replaces <c>daemon-create</c> (3): remote deployment.</summary>
internal sealed class RefusedDaemonCreateSerializer(ExtendedActorSystem system) : RefusedInboundSerializer(system, "remote deployment")
{
    public RefusedDaemonCreateSerializer(ExtendedActorSystem system, Config config)
        : this(system)
    {
    }

    public override int Identifier => 3;
}

/// <summary>Replaces <c>proto</c> (2): raw protobuf user messages.</summary>
internal sealed class RefusedProtobufSerializer(ExtendedActorSystem system) : RefusedInboundSerializer(system, "protobuf message")
{
    public RefusedProtobufSerializer(ExtendedActorSystem system, Config config)
        : this(system)
    {
    }

    public override int Identifier => 2;
}
