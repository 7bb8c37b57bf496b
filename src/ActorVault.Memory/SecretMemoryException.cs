namespace ActorVault.Memory;

/// <summary>Secret memory could not be mapped, locked or protected. The message names the limit and the fix.</summary>
public sealed class SecretMemoryException : Exception
{
    /// <summary>Creates the exception.</summary>
    public SecretMemoryException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public SecretMemoryException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception.</summary>
    public SecretMemoryException()
        : base("Secret memory is unavailable.")
    {
    }
}

/// <summary>Thrown by every serializer asked to serialize a secret-holding type.</summary>
public sealed class SecretSerializationException : NotSupportedException
{
    /// <summary>Creates the exception for <paramref name="type"/>.</summary>
    public SecretSerializationException(Type type)
        : base($"{type.Name} holds secret bytes and cannot be serialized: lend it through a lease, or send it sealed.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public SecretSerializationException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public SecretSerializationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception.</summary>
    public SecretSerializationException()
        : base("Secret-holding types cannot be serialized.")
    {
    }
}
