using System.Runtime.InteropServices;
using ActorVault.Memory.Interop;

namespace ActorVault.Memory.Readers;

/// <summary>
/// Binary transfer of secret bytes over file descriptors (pipes between a parent and its vault child):
/// read(2) straight into secret memory and write(2) straight out of it, no managed buffer in between.
/// </summary>
public static unsafe class SecretDescriptors
{
    /// <summary>
    /// Reads exactly <paramref name="length"/> bytes from <paramref name="fd"/> into a new secret buffer.
    /// End of input before that is an error (<see cref="SecretInputError.Empty"/> when nothing came,
    /// otherwise <see cref="SecretInputError.IoError"/>); the partial bytes are zeroed.
    /// </summary>
    public static SecretBuffer ReadExactly(int fd, int length, string source)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        ArgumentException.ThrowIfNullOrEmpty(source);
        SecretBuffer buffer = SecretMemory.Allocate(length);
        bool ok = false;
        try
        {
            using (SecretBuffer.Scope scope = buffer.Open())
            {
                fixed (byte* start = scope.WritableBytes)
                {
                    int filled = 0;
                    while (filled < length)
                    {
                        nint n = Libc.read(fd, start + filled, (nuint)(length - filled));
                        if (n < 0)
                        {
                            int errno = Marshal.GetLastPInvokeError();
                            if (errno == Libc.EINTR)
                            {
                                continue;
                            }

                            throw errno == Libc.EBADF
                                ? new SecretInputException(SecretInputError.DescriptorClosed, $"The {source} is closed; nothing to read the secret from.")
                                : new SecretInputException(SecretInputError.IoError, $"Reading the secret from {source} failed: {Libc.Describe(errno)}.");
                        }

                        if (n == 0)
                        {
                            throw filled == 0
                                ? new SecretInputException(SecretInputError.Empty, $"The {source} ended before any of the {length} secret bytes arrived.")
                                : new SecretInputException(SecretInputError.IoError, $"The {source} ended after {filled} of {length} secret bytes; nothing was kept.");
                        }

                        filled += (int)n;
                    }
                }
            }

            ok = true;
            return buffer;
        }
        finally
        {
            if (!ok)
            {
                buffer.Dispose();
            }
        }
    }

    /// <summary>
    /// Writes all of <paramref name="secret"/> to <paramref name="fd"/> (retrying short writes and EINTR).
    /// Throws <see cref="IOException"/> naming the errno when the descriptor refuses (EPIPE: reader gone).
    /// </summary>
    public static void WriteAll(int fd, SecretBuffer secret)
    {
        ArgumentNullException.ThrowIfNull(secret);
        using SecretBuffer.Scope scope = secret.Open();
        ReadOnlySpan<byte> bytes = scope.Bytes;
        fixed (byte* start = bytes)
        {
            int written = 0;
            while (written < bytes.Length)
            {
                nint n = Libc.write(fd, start + written, (nuint)(bytes.Length - written));
                if (n < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == Libc.EINTR)
                    {
                        continue;
                    }

                    throw new IOException($"Writing {bytes.Length} secret bytes to file descriptor {fd} failed after {written}: {Libc.Describe(errno)}.");
                }

                written += (int)n;
            }
        }
    }

    /// <summary>
    /// Blocks until <paramref name="fd"/> reaches end of input (or fails), discarding anything read.
    /// Used by the vault to learn that its parent is gone: the parent holds the write end of its stdin.
    /// Returns the errno when the read failed, 0 on a clean end of input.
    /// </summary>
    public static int WaitForEndOfInput(int fd)
    {
        byte* scratch = stackalloc byte[64];
        while (true)
        {
            nint n = Libc.read(fd, scratch, 64);
            if (n == 0)
            {
                return 0;
            }

            if (n < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno != Libc.EINTR)
                {
                    return errno;
                }
            }
        }
    }
}
