using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Event;
using Akka.Remote.Transport.DotNetty;

namespace ActorVault.Crypto;

/// <summary>
/// Mutual TLS for the standalone host's client port (opt-in): a self-signed ECDSA P-256 certificate made
/// for this run only, and a validator that accepts exactly the peers whose certificate SHA-256 is
/// pinned — no CA, no hostname. Each side learns the other's digest over a channel it already trusts
/// (clients from the info file),
/// and pins it before the first connection. A peer without a pinned certificate fails the handshake, so
/// not one Akka frame from it is parsed. (Akka's own <c>CertificateValidation.PinnedCertificate</c>
/// compares SHA-1 thumbprints; this compares SHA-256.) The private key lives in OpenSSL's heap, not in
/// secret memory: it authenticates the link for one run; the secrets stay sealed by the envelope layer.
/// </summary>
internal sealed class LinkTls : IDisposable
{
    public const int DigestSize = 32;

    private volatile byte[][] _pinned = [];

    private LinkTls(X509Certificate2 certificate)
    {
        Certificate = certificate;
        Digest = SHA256.HashData(certificate.RawData);
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>SHA-256 of this side's certificate (public: it is what the peer pins).</summary>
    public byte[] Digest { get; }

    public string DigestHex => Convert.ToHexStringLower(Digest);

    /// <summary>The setup for <c>BootstrapSetup.And(...)</c>: mutual authentication required, pinned peers only.</summary>
    public DotNettySslSetup Setup => new(Certificate, suppressValidation: false, requireMutualAuthentication: true, validateCertificateHostname: false, customValidator: Validate);

    public static LinkTls Create(string role)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=actorvault-{role}", key, HashAlgorithmName.SHA256);
        DateTimeOffset now = DateTimeOffset.UtcNow;
        return new LinkTls(request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(30)));
    }

    /// <summary>Creates this side's certificate around a private key imported from <paramref name="pkcs8"/> (a span in secret memory).</summary>
    public static LinkTls FromKey(ReadOnlySpan<byte> pkcs8, byte[] certificateDer)
    {
        using var key = ECDsa.Create();
        key.ImportPkcs8PrivateKey(pkcs8, out _);
        using X509Certificate2 publicOnly = X509CertificateLoader.LoadCertificate(certificateDer);
        return new LinkTls(publicOnly.CopyWithPrivateKey(key));
    }

    /// <summary>Accepts the peers with these certificate digests (replacing earlier pins).</summary>
    public void Pin(params byte[][] digests)
    {
        foreach (byte[] digest in digests)
        {
            if (digest.Length != DigestSize)
            {
                throw new ArgumentException($"A certificate pin is a {DigestSize}-byte SHA-256 digest, not {digest.Length} bytes.", nameof(digests));
            }
        }

        _pinned = digests;
    }

    public static bool TryParseDigest(string hex, out byte[] digest)
    {
        digest = [];
        if (hex.Length != 2 * DigestSize)
        {
            return false;
        }

        try
        {
            digest = Convert.FromHexString(hex);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    public void Dispose() => Certificate.Dispose();

    /// <summary>Chain and name errors are expected (self-signed, no hostname): only the pin decides.</summary>
    private bool Validate(X509Certificate2? certificate, X509Chain? chain, string remotePeer, SslPolicyErrors errors, ILoggingAdapter log)
    {
        if (certificate is null)
        {
            log.Warning("Audit: TLS peer {0} presented no certificate; refused.", remotePeer);
            return false;
        }

        byte[] digest = SHA256.HashData(certificate.RawData);
        foreach (byte[] pinned in _pinned)
        {
            if (CryptographicOperations.FixedTimeEquals(digest, pinned))
            {
                return true;
            }
        }

        log.Warning("Audit: TLS peer {0} presented an unpinned certificate; refused.", remotePeer);
        return false;
    }
}
