using ActorVault.Memory.Interop;

namespace ActorVault.Memory;

/// <summary>The OpenSSL secure heap's state in this process.</summary>
/// <param name="Initialized">CRYPTO_secure_malloc_initialized().</param>
/// <param name="SizeBytes">The size this process asked for (0 when another component initialized it).</param>
/// <param name="UsedBytes">CRYPTO_secure_used(): bytes of the secure heap in use (RSA private key numbers live there).</param>
public sealed record SecureHeapStatus(bool Initialized, long SizeBytes, long UsedBytes);

/// <summary>
/// OpenSSL's secure heap (<c>CRYPTO_secure_malloc_init</c>) in the libcrypto that .NET's own RSA uses:
/// initialize it before any crypto so private keys are made in locked, guarded memory.
/// </summary>
public static class OpenSslSecureHeap
{
    /// <summary>Default secure heap size: 32 KiB.</summary>
    public const int DefaultSizeBytes = 32 * 1024;

    /// <summary>Default minimum allocation: 16 bytes.</summary>
    public const int DefaultMinimumAllocation = 16;

    private static readonly Lock s_gate = new();
    private static long s_size;

    /// <summary>
    /// Initializes the secure heap (idempotent). <paramref name="sizeBytes"/> and
    /// <paramref name="minimumAllocation"/> must be powers of two.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A size is not a power of two, or the minimum exceeds the size.</exception>
    /// <exception cref="SecretMemoryException">OpenSSL refused (see the message), or libcrypto.so.3 is missing.</exception>
    public static SecureHeapStatus Initialize(int sizeBytes = DefaultSizeBytes, int minimumAllocation = DefaultMinimumAllocation)
    {
        if (sizeBytes < 4096 || !int.IsPow2(sizeBytes))
        {
            throw new ArgumentOutOfRangeException(nameof(sizeBytes), sizeBytes, "The OpenSSL secure heap size must be a power of two of at least 4096 bytes.");
        }

        if (minimumAllocation < 1 || !int.IsPow2(minimumAllocation) || minimumAllocation > sizeBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(minimumAllocation), minimumAllocation, "The minimum allocation must be a power of two no larger than the heap.");
        }

        lock (s_gate)
        {
            try
            {
                if (LibCrypto.CRYPTO_secure_malloc_initialized() == 1)
                {
                    return Status();
                }

                int result = LibCrypto.CRYPTO_secure_malloc_init((nuint)sizeBytes, (nuint)minimumAllocation);
                if (result == 0)
                {
                    throw new SecretMemoryException($"CRYPTO_secure_malloc_init({sizeBytes}, {minimumAllocation}) failed: OpenSSL could not map or lock its secure heap (check ulimit -l).");
                }

                // 2 means it works but mmap/mlock of part of it failed: acceptable, reported by Status.
                s_size = sizeBytes;
                return Status();
            }
            catch (DllNotFoundException e)
            {
                throw new SecretMemoryException("libcrypto.so.3 (OpenSSL 3) is not installed; the OpenSSL secure heap needs it.", e);
            }
        }
    }

    /// <summary>The current state. Never calls CRYPTO_secure_used before the heap is initialized (that crashes).</summary>
    public static SecureHeapStatus Status()
    {
        try
        {
            if (LibCrypto.CRYPTO_secure_malloc_initialized() != 1)
            {
                return new SecureHeapStatus(false, 0, 0);
            }

            return new SecureHeapStatus(true, Interlocked.Read(ref s_size), (long)LibCrypto.CRYPTO_secure_used());
        }
        catch (DllNotFoundException)
        {
            return new SecureHeapStatus(false, 0, 0);
        }
    }
}
