using System.Buffers.Binary;
using System.Globalization;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using ActorVault.Memory;

namespace ActorVault.Transport;

/// <summary>
/// What the application and its vault child say on their link socket before Akka.Remote takes it
/// over. The order is the proof:
/// <list type="number">
/// <item>The application binds a Unix socket in a fresh 0700 directory and starts the child with its
/// path. The child hardens itself (not dumpable, no core, no diagnostic port), and only then connects.</item>
/// <item>The application accepts only the connection whose kernel-checked <c>SO_PEERCRED</c> pid is
/// the child's and uid its own, with no tracer (<c>TracerPid: 0</c>); any other is closed unread.
/// Then it removes the socket's path and directory and writes the 32-byte bootstrap secret.</item>
/// <item>The child answers one READY frame — its pid and link name — tagged with HMAC-SHA256 under a
/// key derived from the bootstrap: only the process that received the bootstrap can make it.</item>
/// </list>
/// Then both sides hand the socket to <see cref="LinkSocketTransport"/>.
/// </summary>
internal static class LinkHandshake
{
    /// <summary>The vault's actor system name.</summary>
    public const string VaultSystem = "actorvault";

    /// <summary>The application's link system name.</summary>
    public const string LinkSystem = "actorvault-link";

    public const int TagSize = 32;

    private const int MaxReadyBytes = 512;
    private const string ReadyPrefix = Protocol.VaultProcessContract.ReadyPrefix;
    private static readonly byte[] ReadyInfo = Protocol.Labels.ReadyTagInfo;

    /// <summary>The vault guardian's path on the link named <paramref name="linkName"/>.</summary>
    public static string GuardianPath(string linkName) => $"{LinkSockets.AddressOf(VaultSystem, linkName)}/user/vault";

    /// <summary>A fresh link name: 16 random hex digits (the host part of the vault's link address).</summary>
    public static string NewLinkName() => "v" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    /// <summary>The child: one READY frame on <paramref name="socket"/>.</summary>
    public static void SendReady(Socket socket, SecretBuffer bootstrap, int pid, string linkName)
    {
        byte[] message = ReadyMessage(pid, linkName);
        byte[] frame = new byte[4 + message.Length + TagSize];
        BinaryPrimitives.WriteInt32BigEndian(frame, message.Length + TagSize);
        message.CopyTo(frame, 4);
        Tag(bootstrap, message, frame.AsSpan(4 + message.Length));
        socket.Send(frame);
    }

    /// <summary>
    /// The application: reads one READY frame and checks its tag, pid and name; null when it is
    /// valid, otherwise why not (the caller kills the child).
    /// </summary>
    public static string? ReceiveReady(Socket socket, SecretBuffer bootstrap, int pid, string linkName)
    {
        Span<byte> header = stackalloc byte[4];
        if (!ReceiveExactly(socket, header))
        {
            return "the vault closed its link before READY";
        }

        int length = BinaryPrimitives.ReadInt32BigEndian(header);
        if (length <= TagSize || length > MaxReadyBytes)
        {
            return $"the vault's READY frame has an invalid length ({length})";
        }

        byte[] frame = new byte[length];
        if (!ReceiveExactly(socket, frame))
        {
            return "the vault closed its link in the middle of READY";
        }

        byte[] expected = ReadyMessage(pid, linkName);
        Span<byte> tag = stackalloc byte[TagSize];
        Tag(bootstrap, frame.AsSpan(0, length - TagSize), tag);
        bool authentic = CryptographicOperations.FixedTimeEquals(tag, frame.AsSpan(length - TagSize));
        if (!authentic)
        {
            return "the vault's READY frame is not authentic (its tag does not match the bootstrap)";
        }

        return frame.AsSpan(0, length - TagSize).SequenceEqual(expected)
            ? null
            : "the vault's READY frame names another process or link";
    }

    private static byte[] ReadyMessage(int pid, string linkName) =>
        Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{ReadyPrefix} pid={pid} link={linkName}"));

    /// <summary>HMAC-SHA256(HKDF(bootstrap, "ready-tag"), message); the derived key lives on the stack and is zeroed.</summary>
    private static void Tag(SecretBuffer bootstrap, ReadOnlySpan<byte> message, Span<byte> tag)
    {
        Span<byte> key = stackalloc byte[32];
        try
        {
            using (SecretBuffer.Scope scope = bootstrap.Open())
            {
                HKDF.DeriveKey(HashAlgorithmName.SHA256, scope.Bytes, key, salt: default, ReadyInfo);
            }

            _ = HMACSHA256.HashData(key, message, tag);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>
    /// The kernel's <c>SO_PEERCRED</c> of a connected Unix socket: the peer process's pid and uid (for
    /// the connecting side, the process that called <c>listen</c>). (0, -1) when unavailable.
    /// </summary>
    public static (int Pid, int Uid) PeerCredentials(Socket socket)
    {
        const int SolSocket = 1;
        const int SoPeerCred = 17;
        Span<byte> ucred = stackalloc byte[12];
        int length = socket.GetRawSocketOption(SolSocket, SoPeerCred, ucred);
        return length < 12
            ? (0, -1)
            : (System.Runtime.InteropServices.MemoryMarshal.Read<int>(ucred), System.Runtime.InteropServices.MemoryMarshal.Read<int>(ucred[4..]));
    }

    private static bool ReceiveExactly(Socket socket, Span<byte> target)
    {
        int filled = 0;
        while (filled < target.Length)
        {
            int n = socket.Receive(target[filled..]);
            if (n == 0)
            {
                return false;
            }

            filled += n;
        }

        return true;
    }
}
