using System.Security.Cryptography;
using ActorVault.Crypto;
using ActorVault.Memory;
using ActorVault.Vault;
using BenchmarkDotNet.Attributes;

namespace ActorVault.Benchmarks;

/// <summary>
/// The per-lease cost inside the vault: open a stored (sealed) 32-byte secret into secret memory and
/// re-seal it under the session's payload key — against the design the issue rules out, an RSA-2048
/// OAEP private decrypt per lease. Target: ≤ 20 µs median for the vault's open path.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class LeasePathBenchmarks
{
    private SessionKeys _session = null!;
    private KeystoreActor.StoredSecret _stored = null!;
    private RSA _rsa = null!;
    private byte[] _rsaWrapped = null!;
    private byte[] _rsaOutput = null!;
    private (byte[] Nonce, byte[] Ciphertext, byte[] Tag) _sessionSealed;
    private Guid _requestId;

    [GlobalSetup]
    public void Setup()
    {
        using (SecretBuffer bootstrap = SessionKeys.NewBootstrap())
        {
            _session = SessionKeys.Derive(bootstrap);
        }

        byte[] secret = RandomNumberGenerator.GetBytes(32);
        SecretBuffer dataKey = Aead.NewKey();
        byte[] nonce = RandomNumberGenerator.GetBytes(Aead.NonceSize);
        byte[] ciphertext = new byte[secret.Length];
        byte[] tag = new byte[Aead.TagSize];
        Aead.Encrypt(dataKey, nonce, secret, ciphertext, tag, Protocol.Labels.Stored("main"));
        _stored = new KeystoreActor.StoredSecret(dataKey, nonce, ciphertext, tag);

        _rsa = RSA.Create(2048);
        _rsaWrapped = _rsa.Encrypt(secret, RSAEncryptionPadding.OaepSHA256);
        _rsaOutput = new byte[256];
        _requestId = Guid.NewGuid();
        _sessionSealed = KeystoreActor.Seal(_session, Protocol.Labels.Lease("main", _requestId), "main", _stored);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _stored.DataKey.Dispose();
        _session.Dispose();
        _rsa.Dispose();
    }

    [Benchmark(Description = "vault: open sealed secret + seal for session (AES-256-GCM x2)")]
    public int VaultOpenForLease() => KeystoreActor.Seal(_session, Protocol.Labels.Lease("main", _requestId), "main", _stored).Ciphertext.Length;

    [Benchmark(Baseline = true, Description = "baseline: RSA-2048 OAEP private decrypt per lease")]
    public int RsaPerLease() => _rsa.TryDecrypt(_rsaWrapped, _rsaOutput, RSAEncryptionPadding.OaepSHA256, out int written) ? written : -1;

    [Benchmark(Description = "application: open session-sealed payload into secret memory, zero")]
    public bool ClientOpen()
    {
        using SecretBuffer buffer = SecretMemory.Allocate(_sessionSealed.Ciphertext.Length);
        using SecretBuffer.Scope scope = buffer.Open();
        return Aead.TryDecrypt(_session.PayloadKey, _sessionSealed.Nonce, _sessionSealed.Ciphertext, _sessionSealed.Tag, scope.WritableBytes, Protocol.Labels.Lease("main", _requestId));
    }
}
