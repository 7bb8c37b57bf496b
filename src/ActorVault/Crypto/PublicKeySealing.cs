using System.Security.Cryptography;
using System.Text;
using ActorVault.Memory;
using ActorVault.Protocol;

namespace ActorVault.Crypto;

/// <summary>
/// Hybrid sealing to the vault's RSA public key: a fresh AES-256 data key (made in secret memory)
/// encrypts the secret with GCM, and RSA-OAEP-SHA256 wraps the data key. Used by the application to
/// hand a secret to the vault (its own copy is zeroed at once) and by the vault to open it.
/// The associated data binds the purpose and the secret's name, so a sealed value cannot be replayed
/// under another name or for another operation.
/// </summary>
internal static class PublicKeySealing
{
    public static readonly RSAEncryptionPadding Padding = RSAEncryptionPadding.OaepSHA256;

    public static byte[] Fingerprint(byte[] subjectPublicKeyInfo) => SHA256.HashData(subjectPublicKeyInfo);

    public static byte[] AssociatedData(string purpose, string name) => Protocol.Labels.Sealed(purpose, name);

    /// <summary>Seals <paramref name="secret"/>; the data key is zeroed before returning. Does not touch <paramref name="secret"/>.</summary>
    public static PublicKeySealed Seal(RSA publicKey, byte[] fingerprint, ReadOnlySpan<byte> secret, string purpose, string name)
    {
        ArgumentNullException.ThrowIfNull(publicKey);
        byte[] aad = AssociatedData(purpose, name);
        byte[] nonce = RandomNumberGenerator.GetBytes(Aead.NonceSize);
        byte[] ciphertext = new byte[secret.Length];
        byte[] tag = new byte[Aead.TagSize];
        byte[] wrapped;
        using (SecretBuffer dataKey = Aead.NewKey())
        using (SecretBuffer.Scope key = dataKey.Open())
        {
            wrapped = publicKey.Encrypt(key.Bytes, Padding);
            Aead.Encrypt(key.Bytes, nonce, secret, ciphertext, tag, aad);
        }

        return new PublicKeySealed(fingerprint, wrapped, nonce, ciphertext, tag);
    }

    /// <summary>
    /// Opens a sealed value into a new secret buffer. Throws <see cref="CryptographicException"/> with a
    /// clear message when the key does not match or the payload was altered; nothing is kept then.
    /// </summary>
    public static SecretBuffer Open(RSA privateKey, byte[] fingerprint, PublicKeySealed sealedValue, string purpose, string name, int maxBytes)
    {
        ArgumentNullException.ThrowIfNull(privateKey);
        ArgumentNullException.ThrowIfNull(sealedValue);
        if (sealedValue.KeyFingerprint is null || !CryptographicOperations.FixedTimeEquals(sealedValue.KeyFingerprint, fingerprint))
        {
            throw new CryptographicException("The secret was sealed to another public key (the vault's keypair changed or the sender is not this vault's application).");
        }

        if (sealedValue.Nonce is not { Length: Aead.NonceSize } || sealedValue.Tag is not { Length: Aead.TagSize } || sealedValue.Ciphertext is null || sealedValue.WrappedKey is null)
        {
            throw new CryptographicException("The sealed secret is malformed (nonce, tag or ciphertext missing or of the wrong size).");
        }

        if (sealedValue.Ciphertext.Length == 0 || sealedValue.Ciphertext.Length > maxBytes)
        {
            throw new CryptographicException($"The sealed secret is {sealedValue.Ciphertext.Length} bytes; a secret is 1 to {maxBytes} bytes.");
        }

        int modulusBytes = privateKey.KeySize / 8;
        if (sealedValue.WrappedKey.Length != modulusBytes)
        {
            throw new CryptographicException("The wrapped data key does not match the vault's key size.");
        }

        byte[] aad = AssociatedData(purpose, name);

        // A destination as large as the modulus lets OpenSSL decrypt straight into secret memory
        // (smaller destinations make .NET decrypt into a pooled managed array first).
        using SecretBuffer unwrapped = SecretMemory.Allocate(modulusBytes);
        SecretBuffer plaintext = SecretMemory.Allocate(sealedValue.Ciphertext.Length);
        bool ok = false;
        try
        {
            using (SecretBuffer.Scope key = unwrapped.Open())
            using (SecretBuffer.Scope output = plaintext.Open())
            {
                if (!privateKey.TryDecrypt(sealedValue.WrappedKey, key.WritableBytes, Padding, out int written) || written != Aead.KeySize)
                {
                    throw new CryptographicException("The wrapped data key did not unwrap to an AES-256 key.");
                }

                if (!Aead.TryDecrypt(key.Bytes[..Aead.KeySize], sealedValue.Nonce, sealedValue.Ciphertext, sealedValue.Tag, output.WritableBytes, aad))
                {
                    throw new CryptographicException("The sealed secret failed authentication (altered, or sealed for another name or purpose).");
                }
            }

            ok = true;
            return plaintext;
        }
        finally
        {
            if (!ok)
            {
                plaintext.Dispose();
            }
        }
    }
}
