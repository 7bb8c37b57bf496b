namespace ActorVault.Memory.Readers;

/// <summary>Why a secret could not be read. Each has its own message; none carries secret bytes.</summary>
public enum SecretInputError
{
    /// <summary>The input was empty (or only a newline).</summary>
    Empty,

    /// <summary>The input was longer than the configured maximum.</summary>
    TooLong,

    /// <summary>There is no controlling terminal to prompt on.</summary>
    NoTerminal,

    /// <summary>The terminal hung up or was closed while reading.</summary>
    TerminalClosed,

    /// <summary>The file descriptor is not open.</summary>
    DescriptorClosed,

    /// <summary>The file or credential does not exist.</summary>
    NotFound,

    /// <summary>Access to the file was denied.</summary>
    AccessDenied,

    /// <summary>A signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT) or cancellation interrupted the read.</summary>
    Interrupted,

    /// <summary>The source is of the wrong kind (e.g. stdin is a terminal where a pipe was expected).</summary>
    WrongSource,

    /// <summary>Any other I/O error; the message has the errno.</summary>
    IoError,
}

/// <summary>A secret could not be read. Whatever was read so far has been zeroed.</summary>
public sealed class SecretInputException : Exception
{
    /// <summary>Creates the exception.</summary>
    public SecretInputException(SecretInputError error, string message)
        : base(message) => Error = error;

    /// <summary>Creates the exception.</summary>
    public SecretInputException()
        : this(SecretInputError.IoError, "The secret could not be read.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public SecretInputException(string message)
        : this(SecretInputError.IoError, message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public SecretInputException(string message, Exception innerException)
        : base(message, innerException) => Error = SecretInputError.IoError;

    /// <summary>What went wrong.</summary>
    public SecretInputError Error { get; }
}
