using System.Runtime.InteropServices;

namespace ActorVault.Memory.Interop;

/// <summary>OpenSSL 3 secure-heap calls, from the same libcrypto that .NET's RSA uses.</summary>
internal static partial class LibCrypto
{
    private const string Lib = "libcrypto.so.3";

    [LibraryImport(Lib)]
    internal static partial int CRYPTO_secure_malloc_init(nuint size, nuint minSize);

    [LibraryImport(Lib)]
    internal static partial int CRYPTO_secure_malloc_initialized();

    /// <summary>Crashes the process when the secure heap is not initialized: check first.</summary>
    [LibraryImport(Lib)]
    internal static partial nuint CRYPTO_secure_used();
}
