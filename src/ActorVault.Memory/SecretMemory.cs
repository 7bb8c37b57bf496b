namespace ActorVault.Memory;

/// <summary>
/// The process-wide secret memory and its tracker: every live <see cref="SecretBuffer"/> is known
/// here, so shutdown, signal and crash paths can zero all of them with <see cref="ZeroAll"/>.
/// </summary>
public static class SecretMemory
{
    private static readonly Lock s_gate = new();
    private static SecretMemoryOptions s_options = new();
    private static SecretMemoryPool? s_shared;

    /// <summary>
    /// Sets the options. Call before the first secret is allocated; afterwards the arenas exist and a
    /// change would not apply, so it throws <see cref="InvalidOperationException"/>.
    /// </summary>
    public static void Configure(SecretMemoryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        lock (s_gate)
        {
            if (s_shared is not null && s_shared.Options != options)
            {
                throw new InvalidOperationException("Secret memory is already in use; SecretMemory.Configure must run before the first secret buffer is allocated.");
            }

            s_options = options;
        }
    }

    /// <summary>Allocates a zero-filled secret buffer of <paramref name="length"/> bytes.</summary>
    public static SecretBuffer Allocate(int length) => new(Shared.Allocate(length), length);

    /// <summary>Copies <paramref name="source"/> into a new secret buffer. Zeroing the source stays the caller's job.</summary>
    public static SecretBuffer CopyFrom(ReadOnlySpan<byte> source)
    {
        if (source.IsEmpty)
        {
            throw new ArgumentException("A secret cannot be empty.", nameof(source));
        }

        SecretBuffer buffer = Allocate(source.Length);
        buffer.Write(source, static (target, from) => from.CopyTo(target));
        return buffer;
    }

    /// <summary>What backs the secret memory and how much of it is in use.</summary>
    public static SecretMemoryStatus Status => Shared.Status();

    /// <summary>
    /// Zeroes every live secret buffer of the process at once. Later access to those buffers throws
    /// <see cref="ObjectDisposedException"/>. Idempotent, thread-safe, takes no lock and allocates
    /// nothing: call it from signal handlers, unhandled-exception handlers and shutdown tasks.
    /// </summary>
    /// <param name="reason">Why (shown in the exception a later access gets; never secret).</param>
    /// <returns>How many buffers this call zeroed.</returns>
    public static int ZeroAll(string reason = "emergency wipe")
    {
        int zeroed = 0;
        foreach (SecretMemoryPool pool in SecretMemoryPool.All)
        {
            zeroed += pool.ZeroAllLive(reason);
        }

        return zeroed;
    }

    internal static SecretMemoryPool Shared
    {
        get
        {
            SecretMemoryPool? pool = Volatile.Read(ref s_shared);
            if (pool is not null)
            {
                return pool;
            }

            lock (s_gate)
            {
                s_shared ??= new SecretMemoryPool(s_options);
                return s_shared;
            }
        }
    }
}
