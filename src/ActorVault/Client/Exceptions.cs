namespace ActorVault;

/// <summary>
/// The vault cannot serve the request: its process died (the message names the exit code or signal),
/// it is restarting, it was stopped, or it stopped answering. Every client-side secret buffer of the
/// lost session has been zeroed when this is thrown.
/// </summary>
public sealed class VaultUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public VaultUnavailableException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public VaultUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public VaultUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with the vault's state.</summary>
    public VaultUnavailableException(string message, VaultState state)
        : base(message) => State = state;

    /// <summary>The vault's state when the request failed.</summary>
    public VaultState State { get; } = VaultState.Stopped;
}

/// <summary>
/// The vault child could not be started: executable missing, early exit, no proven link (READY) in time, or
/// an unreachable address. <see cref="StandardErrorTail"/> holds the child's last stderr lines.
/// </summary>
public sealed class VaultStartupException : Exception
{
    /// <summary>Creates the exception.</summary>
    public VaultStartupException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public VaultStartupException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public VaultStartupException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with the child's stderr tail.</summary>
    public VaultStartupException(string message, IReadOnlyList<string> standardErrorTail)
        : base(standardErrorTail.Count == 0 ? message : $"{message}{Environment.NewLine}vault stderr (last {standardErrorTail.Count} lines):{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", standardErrorTail)}") =>
        StandardErrorTail = standardErrorTail;

    /// <summary>The last lines the child wrote to stderr (empty if it wrote none).</summary>
    public IReadOnlyList<string> StandardErrorTail { get; } = [];
}

/// <summary>Why the vault refused or failed an operation.</summary>
public enum VaultError
{
    /// <summary>Not classified.</summary>
    Unknown,

    /// <summary>No secret of that name. No longer thrown as a <see cref="VaultOperationException"/>: see <see cref="SecretUnavailableException"/>.</summary>
    SecretNotFound,

    /// <summary>Two entries of a confirmed prompt differ.</summary>
    ConfirmationMismatch,

    /// <summary>A malformed request: bad name, size or argument.</summary>
    BadRequest,

    /// <summary>The sealed value was refused (stale public key, altered, wrong name).</summary>
    SealedPayloadRejected,

    /// <summary>The keystore is not available.</summary>
    KeystoreUnavailable,

    /// <summary>Too many requests in flight.</summary>
    Busy,
}

/// <summary>The vault answered but refused or failed the operation; the message says why.</summary>
public sealed class VaultOperationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public VaultOperationException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public VaultOperationException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public VaultOperationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with its reason.</summary>
    public VaultOperationException(VaultError error, string message)
        : base(message) => Error = error;

    /// <summary>Why.</summary>
    public VaultError Error { get; }
}
