namespace ActorVault;

/// <summary>What the vault reports about itself. Never any secret byte.</summary>
/// <param name="State">The state as the application sees it.</param>
/// <param name="VaultPid">Process id of the vault child.</param>
/// <param name="KeyBits">RSA key size of the keystore.</param>
/// <param name="SecureHeapUsedBytes">OpenSSL secure heap in use in the vault (the RSA private key lives there).</param>
/// <param name="SecureHeapSizeBytes">OpenSSL secure heap size in the vault.</param>
/// <param name="Backing">Secret memory backing in the vault (MemfdSecret or LockedAnonymous).</param>
/// <param name="LockedBytes">Bytes of secret memory mapped and locked in the vault.</param>
/// <param name="LiveBuffers">Secret buffers alive in the vault.</param>
/// <param name="Hardened">True when the vault is not dumpable and has no core limit.</param>
/// <param name="Secrets">Names of the secrets the vault holds.</param>
/// <param name="Restarts">How often the vault child was restarted.</param>
public sealed record VaultStatus(
    VaultState State,
    int VaultPid,
    int KeyBits,
    long SecureHeapUsedBytes,
    long SecureHeapSizeBytes,
    string Backing,
    long LockedBytes,
    int LiveBuffers,
    bool Hardened,
    IReadOnlyList<string> Secrets,
    int Restarts);

/// <summary>The vault's OpenSSL secure heap and whether the private key is in it (seed parity: verifyExpectedAllocation).</summary>
/// <param name="Enabled">The secure heap is initialized.</param>
/// <param name="SizeBytes">Its size.</param>
/// <param name="UsedBytes">Bytes in use; &gt; 0 once the RSA key exists.</param>
/// <param name="KeyBits">RSA key size.</param>
/// <param name="PrivateKeyInSecureHeap">True when the heap is enabled, in use, and a keypair exists.</param>
public sealed record SecureHeapUsage(bool Enabled, long SizeBytes, long UsedBytes, int KeyBits, bool PrivateKeyInSecureHeap);

/// <summary>Where the vault reads a secret from. The vault reads it itself, into its secret memory.</summary>
public abstract record SecretSource
{
    private SecretSource()
    {
    }

    /// <summary>The controlling terminal, echo off, with a prompt; optionally asked twice.</summary>
    public sealed record Terminal(string Prompt = "Password: ", bool Confirm = false, string ConfirmPrompt = "Again: ") : SecretSource;

    /// <summary>A file (whole content, one trailing newline dropped).</summary>
    public sealed record File(string Path) : SecretSource;

    /// <summary>A file descriptor the vault inherited (3 or more), read up to the first newline or end of input.</summary>
    public sealed record FileDescriptor(int Descriptor) : SecretSource;

    /// <summary>A systemd credential in <c>$CREDENTIALS_DIRECTORY</c>.</summary>
    public sealed record SystemdCredential(string Name) : SecretSource;
}
