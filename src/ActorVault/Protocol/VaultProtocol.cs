namespace ActorVault.Protocol;

/// <summary>Every type that may cross the loopback link (inside an authenticated envelope, or a bare refusal).</summary>
internal interface IVaultProtocolMessage;

/// <summary>A request from the application to the vault; the vault answers with an <see cref="IVaultReply"/> of the same id.</summary>
internal interface IVaultRequest : IVaultProtocolMessage
{
    Guid RequestId { get; }
}

/// <summary>The vault's answer to one <see cref="IVaultRequest"/>.</summary>
internal interface IVaultReply : IVaultProtocolMessage
{
    Guid RequestId { get; }
}

/// <summary>Where the vault reads a secret from (the vault's own terminal and descriptors).</summary>
internal enum SecretSourceKind
{
    Terminal,
    File,
    FileDescriptor,
    SystemdCredential,
}

/// <summary>Machine-readable reason of a <see cref="RequestFailed"/>.</summary>
internal enum VaultErrorCode
{
    Unknown,
    SecretNotFound,
    SecretInput,
    ConfirmationMismatch,
    BadRequest,
    SealedPayloadRejected,
    KeystoreUnavailable,
    Busy,
    SecretLocked,
}

// ---- requests (application → vault) ----

/// <summary>First authenticated message of a session: proves the key and asks for the vault's identity.</summary>
internal sealed record Hello(Guid RequestId, int ClientPid) : IVaultRequest;

/// <summary>Liveness probe, answered by the guardian itself.</summary>
internal sealed record Ping(Guid RequestId, long Sequence) : IVaultRequest;

internal sealed record GetVaultStatus(Guid RequestId) : IVaultRequest;

/// <summary>Make a new RSA keypair in the secure heap; stored secrets stay (their data keys never depended on it).</summary>
internal sealed record GenerateKeypair(Guid RequestId, int Bits) : IVaultRequest;

internal sealed record GetSecureHeapReport(Guid RequestId) : IVaultRequest;

/// <summary>Read a secret in the vault from one of its own sources, straight into secret memory.</summary>
internal sealed record ReadSecret(
    Guid RequestId,
    string Name,
    SecretSourceKind Source,
    string? Path,
    int FileDescriptor,
    string Prompt,
    bool Confirm,
    string ConfirmPrompt,
    int MaxBytes) : IVaultRequest;

/// <summary>A secret sealed to the vault's public key in the application (hybrid RSA-OAEP + AES-256-GCM).</summary>
internal sealed record SetSecret(Guid RequestId, string Name, PublicKeySealed Payload) : IVaultRequest;

/// <summary>Compare a candidate (sealed to the vault's public key) with a stored secret in constant time.</summary>
internal sealed record VerifySecret(Guid RequestId, string Name, PublicKeySealed Candidate) : IVaultRequest;

/// <summary>Forget a secret: its data key is zeroed and its sealed form dropped.</summary>
internal sealed record LockSecret(Guid RequestId, string Name) : IVaultRequest;

/// <summary>Open secret <c>Name</c> for a lease of at most <c>TtlMs</c>: the vault records the lease and seals the secret to the session.</summary>
internal sealed record AcquireLease(Guid RequestId, string Name, long TtlMs) : IVaultRequest;

/// <summary>Revoke one lease (<c>LeaseId</c>), or all leases (of <c>Name</c>, or of every secret when null).</summary>
internal sealed record RevokeLeases(Guid RequestId, Guid LeaseId, string? Name) : IVaultRequest;

/// <summary>Notices between the application and the vault about leases (no reply).</summary>
internal interface ILeaseNotice : IVaultProtocolMessage
{
    Guid LeaseId { get; }
}

/// <summary>Application → vault: the lease's bytes were zeroed; the callback ran for <c>HeldMicros</c>.</summary>
internal sealed record LeaseReleased(Guid LeaseId, long HeldMicros, string Outcome) : ILeaseNotice;

/// <summary>Vault → application: the lease was revoked; zero its bytes now.</summary>
internal sealed record LeaseRevoked(Guid LeaseId, string Reason) : ILeaseNotice;

/// <summary>Vault → application: the lease passed its deadline without a release.</summary>
internal sealed record LeaseExpired(Guid LeaseId) : ILeaseNotice;

// ---- replies (vault → application) ----

internal sealed record Welcome(Guid RequestId, int VaultPid, KeystoreInfo Keystore, MemoryInfo Memory) : IVaultReply;

internal sealed record Pong(Guid RequestId, long Sequence) : IVaultReply;

internal sealed record VaultStatusReply(Guid RequestId, int VaultPid, KeystoreInfo Keystore, MemoryInfo Memory, string[] Secrets) : IVaultReply;

internal sealed record KeypairGenerated(Guid RequestId, KeystoreInfo Keystore) : IVaultReply;

internal sealed record SecureHeapReport(Guid RequestId, bool Initialized, long SizeBytes, long UsedBytes, int KeyBits, bool PrivateKeyInSecureHeap) : IVaultReply;

internal sealed record SecretStored(Guid RequestId, string Name, int Length) : IVaultReply;

internal sealed record SecretVerified(Guid RequestId, string Name, bool Matches) : IVaultReply;

internal sealed record SecretLocked(Guid RequestId, string Name, bool Existed) : IVaultReply;

/// <summary>A lease: the secret sealed under the session's payload key (associated data binds name and lease id).</summary>
internal sealed record LeaseGranted(Guid RequestId, Guid LeaseId, string Name, long TtlMs, byte[] Nonce, byte[] Ciphertext, byte[] Tag) : IVaultReply;

internal sealed record LeasesRevoked(Guid RequestId, int Count) : IVaultReply;

internal sealed record RequestFailed(Guid RequestId, VaultErrorCode Code, string Message, int InputError) : IVaultReply;

// ---- notices (vault → application, unsolicited) ----

/// <summary>The vault's keystore failed and was replaced: every secret is gone, the vault is locked.</summary>
internal sealed record KeystoreReset(string Reason, KeystoreInfo Keystore) : IVaultProtocolMessage;

// ---- outside any envelope ----

/// <summary>The only answer an unauthenticated sender gets. Says nothing about the vault.</summary>
internal sealed record Refused(string Reason) : IVaultProtocolMessage;

// ---- shared data ----

internal sealed record KeystoreInfo(int KeyBits, byte[] PublicKey, long SecureHeapUsedBytes, long SecureHeapSizeBytes, int SecretCount);

internal sealed record MemoryInfo(string Backing, long LockedBytes, int LiveBuffers, bool Hardened);

/// <summary>Hybrid sealing to an RSA public key: RSA-OAEP-SHA256(data key) ‖ AES-256-GCM(secret).</summary>
internal sealed record PublicKeySealed(byte[] KeyFingerprint, byte[] WrappedKey, byte[] Nonce, byte[] Ciphertext, byte[] Tag);
