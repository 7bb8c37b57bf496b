namespace ActorVault.Protocol;

// The standalone host's protocol (client → `actorvault serve`), carried in the same sealed envelopes
// as the vault link, each client on its own session derived from the host's client key. Replies to
// these requests reuse the vault link's records where they fit (Pong, LeaseGranted, SecretStored,
// SecretLocked, RequestFailed).

/// <summary>What the host reports: every field is public information, never secret bytes.</summary>
internal sealed record HostStatusRequest(Guid RequestId) : IVaultRequest;

/// <summary>The host's status; <c>Secrets</c> holds the names the vault holds, <c>Expected</c> the name the host was started for.</summary>
internal sealed record HostStatusReply(
    Guid RequestId,
    int HostPid,
    int VaultPid,
    string State,
    long UptimeMs,
    int Restarts,
    string[] Secrets,
    string Expected,
    int LiveLeases,
    long LeasesGranted,
    string Backing,
    long LockedBytes,
    int LiveBuffers,
    bool Hardened,
    bool HostHardened,
    long SecureHeapUsedBytes,
    long SecureHeapSizeBytes,
    int KeyBits,
    int Sessions) : IVaultReply;

/// <summary>Lease secret <c>Name</c> to this client: answered with a <see cref="LeaseGranted"/> sealed to the client's session.</summary>
internal sealed record HostLease(Guid RequestId, string Name, long TtlMs) : IVaultRequest;

/// <summary>Store secret <c>Name</c>: the bytes are AES-GCM sealed under the client session's payload key.</summary>
internal sealed record HostUnlock(Guid RequestId, string Name, byte[] Nonce, byte[] Ciphertext, byte[] Tag) : IVaultRequest;

/// <summary>Stop the host (and its vault); answered with <see cref="HostStopping"/>.</summary>
internal sealed record HostStop(Guid RequestId) : IVaultRequest;

/// <summary>The host is stopping: every secret buffer is being zeroed.</summary>
internal sealed record HostStopping(Guid RequestId, int HostPid) : IVaultReply;

/// <summary>The client is done: the host forgets the session, zeroes its keys, and never admits its id again.</summary>
internal sealed record HostBye(Guid RequestId) : IVaultRequest;
