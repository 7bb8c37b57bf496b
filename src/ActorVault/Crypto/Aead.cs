using System.Security.Cryptography;
using ActorVault.Memory;

namespace ActorVault.Crypto;

/// <summary>
/// AES-256-GCM with the key read from secret memory for the duration of one call. The key schedule
/// lives in OpenSSL's cipher context only while the call runs (OpenSSL cleanses it when freed).
/// </summary>
internal static class Aead
{
    public const int KeySize = 32;
    public const int NonceSize = 12;
    public const int TagSize = 16;

    public static void Encrypt(SecretBuffer key, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag, ReadOnlySpan<byte> associatedData)
    {
        using SecretBuffer.Scope scope = key.Open();
        Encrypt(scope.Bytes, nonce, plaintext, ciphertext, tag, associatedData);
    }

    public static void Encrypt(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag, ReadOnlySpan<byte> associatedData)
    {
        using var gcm = new AesGcm(key, TagSize);
        gcm.Encrypt(nonce, plaintext, ciphertext, tag, associatedData);
    }

    /// <summary>
    /// Seals <paramref name="plaintext"/> under <paramref name="key"/> with a fresh random nonce. The
    /// returned arrays are nonce, ciphertext and tag: public, never the plaintext.
    /// </summary>
    public static (byte[] Nonce, byte[] Ciphertext, byte[] Tag) Seal(SecretBuffer key, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        byte[] nonce = RandomNumberGenerator.GetBytes(NonceSize);
        byte[] ciphertext = new byte[plaintext.Length];
        byte[] tag = new byte[TagSize];
        Encrypt(key, nonce, plaintext, ciphertext, tag, associatedData);
        return (nonce, ciphertext, tag);
    }

    /// <summary>A sealed payload from outside has a nonce and a tag of the right sizes and some ciphertext.</summary>
    public static bool IsWellFormed(byte[]? nonce, byte[]? ciphertext, byte[]? tag) =>
        nonce is { Length: NonceSize } && tag is { Length: TagSize } && ciphertext is { Length: > 0 };

    /// <summary>Decrypts into <paramref name="plaintext"/>; false (and zeroed output) when the tag does not verify.</summary>
    public static bool TryDecrypt(SecretBuffer key, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        using SecretBuffer.Scope scope = key.Open();
        return TryDecrypt(scope.Bytes, nonce, ciphertext, tag, plaintext, associatedData);
    }

    /// <summary>Decrypts into <paramref name="plaintext"/>; false (and zeroed output) when the tag does not verify.</summary>
    public static bool TryDecrypt(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        using var gcm = new AesGcm(key, TagSize);
        try
        {
            gcm.Decrypt(nonce, ciphertext, tag, plaintext, associatedData);
            return true;
        }
        catch (AuthenticationTagMismatchException)
        {
            CryptographicOperations.ZeroMemory(plaintext);
            return false;
        }
    }

    /// <summary>
    /// Decrypts into a new secret buffer of the ciphertext's length; null (nothing kept) when the tag
    /// does not verify. The one place that opens AES-GCM payloads into secret memory.
    /// </summary>
    public static SecretBuffer? TryOpen(SecretBuffer key, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, ReadOnlySpan<byte> associatedData)
    {
        SecretBuffer plaintext = SecretMemory.Allocate(ciphertext.Length);
        bool authentic = false;
        try
        {
            using (SecretBuffer.Scope output = plaintext.Open())
            {
                authentic = TryDecrypt(key, nonce, ciphertext, tag, output.WritableBytes, associatedData);
            }

            return authentic ? plaintext : null;
        }
        finally
        {
            if (!authentic)
            {
                plaintext.Dispose();
            }
        }
    }

    /// <summary>A fresh random AES-256 key, made directly in secret memory.</summary>
    public static SecretBuffer NewKey()
    {
        SecretBuffer key = SecretMemory.Allocate(KeySize);
        key.Write(0, static (span, _) => RandomNumberGenerator.Fill(span));
        return key;
    }
}
