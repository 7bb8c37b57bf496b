using System.Security.Cryptography;
using ActorVault.Crypto;
using ActorVault.Protocol;
using static ActorVault.Client.SupervisorProtocol;

namespace ActorVault;

// VaultClient, part: Sealing a secret to the vault's public key (imported once per keypair).
public sealed partial class VaultClient
{
    private PublicKeySealed Seal(ReadOnlySpan<byte> secret, string purpose, string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (secret.IsEmpty)
        {
            throw new ArgumentException("A secret cannot be empty.", nameof(secret));
        }

        Snapshot snapshot = _view.Current;
        if (snapshot.State is not (VaultState.Locked or VaultState.Unlocked) || snapshot.PublicKey.Length == 0)
        {
            throw new VaultUnavailableException($"The vault is {snapshot.State.ToString().ToLowerInvariant()}: nothing to seal the secret to ({snapshot.Reason}).", snapshot.State);
        }

        lock (_gate)
        {
            if (_publicKey is null || !_publicKey.Matches(snapshot.PublicKey))
            {
                _publicKey?.Dispose();
                _publicKey = new VaultPublicKey(snapshot.PublicKey);
            }

            return PublicKeySealing.Seal(_publicKey.Rsa, _publicKey.Fingerprint, secret, purpose, name);
        }
    }

    /// <summary>The vault's RSA public key, imported once per keypair.</summary>
    private sealed class VaultPublicKey : IDisposable
    {
        private readonly byte[] _spki;

        public VaultPublicKey(byte[] spki)
        {
            _spki = spki;
            Rsa = RSA.Create();
            Rsa.ImportSubjectPublicKeyInfo(spki, out _);
            Fingerprint = PublicKeySealing.Fingerprint(spki);
        }

        public RSA Rsa { get; }

        public byte[] Fingerprint { get; }

        public bool Matches(byte[] spki) => _spki.AsSpan().SequenceEqual(spki);

        public void Dispose() => Rsa.Dispose();
    }
}
