using System.Buffers.Binary;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Configuration;
using Akka.Serialization;
using ActorVault.Crypto;
using ActorVault.Protocol;

namespace ActorVault.Serialization;

/// <summary>
/// Wire format of <see cref="VaultEnvelope"/>:
/// <c>version(1) ‖ session id(16) ‖ direction(1) ‖ counter(8) ‖ AES-256-GCM(body) ‖ tag(16)</c>,
/// with nonce = direction ‖ counter and the 26-byte header as associated data. The body is serialized
/// by <see cref="ProtocolSerializer"/> only after the frame authenticated, so bytes from a sender
/// without the key never reach Hyperion. Failures become a <see cref="RejectedEnvelope"/>, not an exception.
/// </summary>
internal sealed class EnvelopeSerializer : SerializerWithStringManifest
{
    public const byte Version = 1;
    public const int HeaderSize = 1 + SessionId.Size + 1 + 8;
    private const string FrameManifest = "E1";

    private readonly SessionKeyRing _ring;
    private readonly ProtocolSerializer _body;

    public EnvelopeSerializer(ExtendedActorSystem system)
        : base(system)
    {
        _ring = SessionKeyRing.For(system);
        _body = new ProtocolSerializer(system);
    }

    public EnvelopeSerializer(ExtendedActorSystem system, Config config)
        : this(system)
    {
    }

    public override int Identifier => 7701;

    public override string Manifest(object o) => FrameManifest;

    public override byte[] ToBinary(object obj)
    {
        if (obj is not VaultEnvelope envelope)
        {
            throw new SerializationException($"The envelope serializer only writes VaultEnvelope, not {obj?.GetType().FullName}.");
        }

        if (!_ring.TryGet(envelope.Session, out SessionKeys? keys))
        {
            throw new SerializationException($"Session {envelope.Session} is closed; its keys are zeroed.");
        }

        byte[] body = _body.ToBinary(envelope.Body);
        try
        {
            return Seal(keys, _ring.Sending, body);
        }
        catch (ObjectDisposedException)
        {
            throw new SerializationException($"Session {envelope.Session} closed while sending; its keys are zeroed.");
        }
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (manifest != FrameManifest || bytes is null || bytes.Length < HeaderSize + Aead.TagSize || bytes[0] != Version)
        {
            return new RejectedEnvelope("malformed frame", string.Empty);
        }

        var session = SessionId.Read(bytes.AsSpan(1, SessionId.Size));
        byte[]? body;
        string? reason;
        if (_ring.TryGet(session, out SessionKeys? keys))
        {
            body = Open(keys, _ring.Receiving, bytes, out reason);
        }
        else
        {
            return new RejectedEnvelope("unknown session", session.ToString());
        }

        if (body is null)
        {
            return new RejectedEnvelope(reason!, session.ToString());
        }

        try
        {
            object message = _body.FromBinary(body, typeof(object));
            return message is IVaultProtocolMessage protocol
                ? new VaultEnvelope(session, protocol)
                : new RejectedEnvelope("body is not a protocol message", session.ToString());
        }
#pragma warning disable CA1031 // an authenticated but undecodable body is still only a refusal
        catch (Exception e)
#pragma warning restore CA1031
        {
            return new RejectedEnvelope($"undecodable body ({e.GetType().Name})", session.ToString());
        }
    }

    internal static byte[] Seal(SessionKeys keys, LinkDirection direction, ReadOnlySpan<byte> body)
    {
        ulong counter = keys.NextCounter();
        byte[] frame = new byte[HeaderSize + body.Length + Aead.TagSize];
        Span<byte> header = frame.AsSpan(0, HeaderSize);
        header[0] = Version;
        keys.Id.Write(header.Slice(1, SessionId.Size));
        header[1 + SessionId.Size] = (byte)direction;
        BinaryPrimitives.WriteUInt64BigEndian(header[(2 + SessionId.Size)..], counter);
        Span<byte> nonce = stackalloc byte[Aead.NonceSize];
        SessionKeys.WriteNonce(nonce, direction, counter);
        Aead.Encrypt(keys.EnvelopeKey, nonce, body, frame.AsSpan(HeaderSize, body.Length), frame.AsSpan(HeaderSize + body.Length), header);
        return frame;
    }

    internal static byte[]? Open(SessionKeys keys, LinkDirection expected, byte[] frame, out string? reason)
    {
        ReadOnlySpan<byte> header = frame.AsSpan(0, HeaderSize);
        var direction = (LinkDirection)header[1 + SessionId.Size];
        if (direction != expected)
        {
            reason = "wrong direction";
            return null;
        }

        ulong counter = BinaryPrimitives.ReadUInt64BigEndian(header[(2 + SessionId.Size)..]);
        int bodyLength = frame.Length - HeaderSize - Aead.TagSize;
        byte[] body = new byte[bodyLength];
        Span<byte> nonce = stackalloc byte[Aead.NonceSize];
        SessionKeys.WriteNonce(nonce, direction, counter);
        bool authentic;
        try
        {
            authentic = Aead.TryDecrypt(keys.EnvelopeKey, nonce, frame.AsSpan(HeaderSize, bodyLength), frame.AsSpan(HeaderSize + bodyLength), body, header);
        }
        catch (ObjectDisposedException)
        {
            reason = "session closed";
            return null;
        }

        if (!authentic)
        {
            reason = "authentication failed";
            return null;
        }

        // Only an authentic frame may move the replay window, so forgeries cannot push it forward.
        if (!keys.Accept(direction, counter))
        {
            reason = "replayed frame";
            return null;
        }

        reason = null;
        return body;
    }
}
