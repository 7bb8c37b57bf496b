namespace ActorVault.Standalone;

/// <summary>Why a standalone host cannot be reached, or cannot publish itself. The message is one clear line.</summary>
public sealed class HostConnectionException : Exception
{
    /// <summary>Creates the exception.</summary>
    public HostConnectionException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public HostConnectionException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public HostConnectionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
