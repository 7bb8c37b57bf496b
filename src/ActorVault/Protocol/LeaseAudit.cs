namespace ActorVault;

// Part of the contract (both sides write the audit trail in this shape); in the root namespace because it is public API.

/// <summary>What happened to a lease.</summary>
public enum LeaseAuditKind
{
    /// <summary>The vault granted the lease.</summary>
    Granted,

    /// <summary>The callback ended and the bytes were zeroed.</summary>
    Released,

    /// <summary>The deadline passed; the bytes were zeroed even if the callback still ran.</summary>
    Expired,

    /// <summary>The lease was revoked (one, all, or its secret locked); the bytes were zeroed.</summary>
    Revoked,

    /// <summary>The lease was refused (cap, locked or unknown secret, bad request).</summary>
    Refused,
}

/// <summary>
/// One line of the lease audit trail, published on the event stream of the system that saw it (the
/// application's link system, and the vault's system) — lease id, secret name, duration, reason; never
/// the bytes.
/// </summary>
public sealed record LeaseAuditEvent(LeaseAuditKind Kind, Guid LeaseId, string SecretName, TimeSpan Duration, string Reason);
