using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using ActorVault.Memory;
using ActorVault.Protocol;

namespace ActorVault.Crypto;

/// <summary>Which way an envelope travels; part of every nonce and of the associated data.</summary>
internal enum LinkDirection : byte
{
    ClientToVault = 1,
    VaultToClient = 2,
}

/// <summary>
/// The keys of one session, derived with HKDF-SHA256 from the 32-byte bootstrap secret that the
/// application hands its vault child over their proven link socket. All keys live in secret memory; the
/// bootstrap itself is zeroed by the caller once this is built. Disposing zeroes every key.
/// </summary>
internal sealed class SessionKeys : IDisposable
{
    public const int BootstrapSize = 32;

    private static readonly byte[] Salt = Protocol.Labels.BootstrapSalt;
    private static readonly byte[] IdInfo = Protocol.Labels.SessionIdInfo;
    private static readonly byte[] EnvelopeInfo = Protocol.Labels.EnvelopeKeyInfo;
    private static readonly byte[] PayloadInfo = Protocol.Labels.PayloadKeyInfo;

    private readonly SecretBuffer _envelopeKey;
    private readonly SecretBuffer _payloadKey;
    private readonly ReplayWindow _replay = new();
    private long _sendCounter;

    private SessionKeys(SessionId id, SecretBuffer envelopeKey, SecretBuffer payloadKey)
    {
        Id = id;
        _envelopeKey = envelopeKey;
        _payloadKey = payloadKey;
    }

    public SessionId Id { get; }

    /// <summary>AES-256-GCM key of the envelope layer (every message of the session).</summary>
    public SecretBuffer EnvelopeKey => _envelopeKey;

    /// <summary>AES-256-GCM key for secrets re-sealed to the session (lease payloads).</summary>
    public SecretBuffer PayloadKey => _payloadKey;

    public bool IsDisposed => _envelopeKey.IsZeroed;

    /// <summary>A fresh random bootstrap secret, made in secret memory.</summary>
    public static SecretBuffer NewBootstrap()
    {
        SecretBuffer bootstrap = SecretMemory.Allocate(BootstrapSize);
        bootstrap.Write(0, static (span, _) => RandomNumberGenerator.Fill(span));
        return bootstrap;
    }

    public static SessionKeys Derive(SecretBuffer bootstrap) =>
        DeriveKeys(bootstrap, "A bootstrap secret", nameof(bootstrap), Salt, EnvelopeInfo, PayloadInfo);

    /// <summary>HKDF-SHA256 of <paramref name="ikm"/> into an envelope key and a payload key in secret memory; and the session id.</summary>
    private static SessionKeys DeriveKeys(SecretBuffer ikm, string what, string parameter, ReadOnlySpan<byte> salt, ReadOnlySpan<byte> envelopeInfo, ReadOnlySpan<byte> payloadInfo)
    {
        ArgumentNullException.ThrowIfNull(ikm, parameter);
        if (ikm.Length != BootstrapSize)
        {
            throw new ArgumentException($"{what} is {BootstrapSize} bytes, not {ikm.Length}.", parameter);
        }

        Span<byte> derivedId = stackalloc byte[SessionId.Size];
        SecretBuffer envelope = SecretMemory.Allocate(Aead.KeySize);
        SecretBuffer payload = SecretMemory.Allocate(Aead.KeySize);
        try
        {
            using (SecretBuffer.Scope input = ikm.Open())
            using (SecretBuffer.Scope e = envelope.Open())
            using (SecretBuffer.Scope p = payload.Open())
            {
                HKDF.DeriveKey(HashAlgorithmName.SHA256, input.Bytes, derivedId, salt, IdInfo);

                HKDF.DeriveKey(HashAlgorithmName.SHA256, input.Bytes, e.WritableBytes, salt, envelopeInfo);
                HKDF.DeriveKey(HashAlgorithmName.SHA256, input.Bytes, p.WritableBytes, salt, payloadInfo);
            }

            return new SessionKeys(SessionId.Read(derivedId), envelope, payload);
        }
        catch
        {
            envelope.Dispose();
            payload.Dispose();
            throw;
        }
    }

    /// <summary>The next send counter of this side (never reused within a session).</summary>
    public ulong NextCounter() => (ulong)Interlocked.Increment(ref _sendCounter);

    /// <summary>Accepts a received counter once; false for a replay or one too old to judge.</summary>
    public bool Accept(LinkDirection direction, ulong counter) => _replay.Accept(direction, counter);

    public static void WriteNonce(Span<byte> nonce, LinkDirection direction, ulong counter)
    {
        nonce[..4].Clear();
        nonce[3] = (byte)direction;
        BinaryPrimitives.WriteUInt64BigEndian(nonce[4..], counter);
    }

    public void Dispose()
    {
        _envelopeKey.Dispose();
        _payloadKey.Dispose();
    }

    public override string ToString() => $"SessionKeys {Id} {SecretBuffer.RedactedMarker}";

    /// <summary>Anti-replay: highest counter seen per direction plus a 1024-counter sliding bitmap (as IPsec does).</summary>
    private sealed class ReplayWindow
    {
        private const int WindowBits = 1024;
        private readonly Lock _gate = new();
        private readonly Window[] _windows = [new(), new(), new()];

        public bool Accept(LinkDirection direction, ulong counter)
        {
            if (counter == 0)
            {
                return false;
            }

            lock (_gate)
            {
                return _windows[(int)direction].Accept(counter);
            }
        }

        private sealed class Window
        {
            private readonly ulong[] _bits = new ulong[WindowBits / 64];
            private ulong _highest;

            public bool Accept(ulong counter)
            {
                if (counter > _highest)
                {
                    ulong shift = counter - _highest;
                    if (shift >= WindowBits)
                    {
                        Array.Clear(_bits);
                    }
                    else
                    {
                        for (ulong c = _highest + 1; c <= counter; c++)
                        {
                            Clear(c);
                        }
                    }

                    _highest = counter;
                    Set(counter);
                    return true;
                }

                if (_highest - counter >= WindowBits || IsSet(counter))
                {
                    return false;
                }

                Set(counter);
                return true;
            }

            private void Set(ulong c) => _bits[(int)(c % WindowBits / 64)] |= 1UL << (int)(c % 64);

            private void Clear(ulong c) => _bits[(int)(c % WindowBits / 64)] &= ~(1UL << (int)(c % 64));

            private bool IsSet(ulong c) => (_bits[(int)(c % WindowBits / 64)] & (1UL << (int)(c % 64))) != 0;
        }
    }
}
