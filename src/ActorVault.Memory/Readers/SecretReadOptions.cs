namespace ActorVault.Memory.Readers;

/// <summary>How a secret is read from a descriptor, pipe, file or terminal.</summary>
public sealed record SecretReadOptions
{
    /// <summary>Default maximum secret length: 4 KiB.</summary>
    public const int DefaultMaxBytes = 4096;

    /// <summary>Longest accepted secret, in bytes, after the trailing newline is dropped. Default 4096.</summary>
    public int MaxBytes { get; init; } = DefaultMaxBytes;

    /// <summary>
    /// Stop at the first newline instead of reading to end of input (descriptors and pipes only). Reads
    /// one byte per call so nothing after the line is consumed. Default false.
    /// </summary>
    public bool StopAtNewline { get; init; }

    /// <summary>The prompt shown on the terminal (not secret). Default "Password: ".</summary>
    public string Prompt { get; init; } = "Password: ";

    internal void Validate()
    {
        if (MaxBytes is < 1 or > 1024 * 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxBytes), MaxBytes, "MaxBytes must be between 1 and 1 MiB.");
        }
    }
}
