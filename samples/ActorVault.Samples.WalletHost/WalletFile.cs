using System.Security.Cryptography;
using System.Text.Json;
using ActorVault.Memory;

namespace ActorVault.Samples.WalletHost;

/// <summary>
/// A wallet file: a random 32-byte wallet key sealed with AES-256-GCM under a key derived from the
/// password (PBKDF2-HMAC-SHA512). The derived key and the wallet key live only in secret memory; the
/// file holds nothing secret in the clear (its address is a hash of the wallet key).
/// </summary>
public sealed record WalletFile(int Version, int Iterations, byte[] Salt, byte[] Nonce, byte[] Tag, byte[] SealedKey, string Address)
{
    private const int Pbkdf2Iterations = 210_000; // OWASP's figure for PBKDF2-HMAC-SHA512
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>Makes a new wallet key and seals it under <paramref name="password"/>.</summary>
    public static WalletFile Create(ReadOnlySpan<byte> password)
    {
        byte[] salt = RandomNumberGenerator.GetBytes(16);
        byte[] nonce = RandomNumberGenerator.GetBytes(AesGcm.NonceByteSizes.MaxSize);
        byte[] tag = new byte[AesGcm.TagByteSizes.MaxSize];
        byte[] sealedKey = new byte[32];
        using SecretBuffer walletKey = SecretMemory.Allocate(32);
        using SecretBuffer derived = Derive(password, salt, Pbkdf2Iterations);
        using (SecretBuffer.Scope w = walletKey.Open())
        using (SecretBuffer.Scope k = derived.Open())
        {
            RandomNumberGenerator.Fill(w.WritableBytes);
            using var aes = new AesGcm(k.Bytes, tag.Length);
            aes.Encrypt(nonce, w.Bytes, sealedKey, tag);
            return new WalletFile(1, Pbkdf2Iterations, salt, nonce, tag, sealedKey, AddressOf(w.Bytes));
        }
    }

    /// <summary>
    /// Opens the wallet key with <paramref name="password"/> into secret memory and returns the
    /// wallet's address; throws <see cref="WrongPasswordException"/> when the password does not open it.
    /// </summary>
    public string Unlock(ReadOnlySpan<byte> password)
    {
        using SecretBuffer walletKey = SecretMemory.Allocate(SealedKey.Length);
        using SecretBuffer derived = Derive(password, Salt, Iterations);
        using SecretBuffer.Scope w = walletKey.Open();
        using SecretBuffer.Scope k = derived.Open();
        try
        {
            using var aes = new AesGcm(k.Bytes, Tag.Length);
            aes.Decrypt(Nonce, SealedKey, Tag, w.WritableBytes);
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new WrongPasswordException();
        }

        string address = AddressOf(w.Bytes);
        return address == Address ? address : throw new InvalidDataException($"the wallet key does not match the file's address {Address}");
    }

    /// <summary>Reads a wallet file.</summary>
    public static WalletFile Load(string path) =>
        JsonSerializer.Deserialize<WalletFile>(File.ReadAllBytes(path), Json) ?? throw new InvalidDataException("the wallet file is empty");

    /// <summary>Writes this wallet to a new file (never over an existing one).</summary>
    public void SaveNew(string path)
    {
        using FileStream file = new(path, FileMode.CreateNew, FileAccess.Write);
        JsonSerializer.Serialize(file, this, Json);
    }

    private static SecretBuffer Derive(ReadOnlySpan<byte> password, byte[] salt, int iterations)
    {
        SecretBuffer key = SecretMemory.Allocate(32);
        using SecretBuffer.Scope k = key.Open();
        Rfc2898DeriveBytes.Pbkdf2(password, salt, k.WritableBytes, iterations, HashAlgorithmName.SHA512);
        return key;
    }

    // A public identifier: a hash of the key, as a cryptocurrency address is.
    private static string AddressOf(ReadOnlySpan<byte> walletKey) => "aw1" + Convert.ToHexStringLower(SHA256.HashData(walletKey).AsSpan(0, 20));
}

/// <summary>The password does not open the wallet (or the file was altered).</summary>
public sealed class WrongPasswordException : Exception
{
    /// <summary>Creates the exception.</summary>
    public WrongPasswordException()
        : base("wrong password (or the wallet file was altered): AES-GCM authentication failed")
    {
    }
}
