using System.Buffers.Binary;
using System.Text;

namespace ActorVault.Agent;

/// <summary>What a frame asks or answers. Requests are below 64, replies and notices from 64.</summary>
internal enum AgentKind : byte
{
    /// <summary>The host's state (public information only).</summary>
    Status = 1,

    /// <summary>Lease <c>Name</c> for at most <c>TtlMs</c>: answered with <see cref="Granted"/>, the bytes in the frame's secret part.</summary>
    Lease = 2,

    /// <summary>Write secret <c>Name</c> into the descriptor passed with the frame (<c>SCM_RIGHTS</c>, a pipe), then close it.</summary>
    WriteTo = 3,

    /// <summary>Set secret <c>Name</c> to the frame's secret part.</summary>
    Unlock = 4,

    /// <summary>Drop secret <c>Name</c>; its live leases, the host's clients' included, are revoked.</summary>
    Lock = 5,

    /// <summary>Stop the host.</summary>
    Stop = 6,

    /// <summary>The client's callback of lease <c>LeaseId</c> ended (its bytes are zeroed); not answered.</summary>
    Release = 7,

    /// <summary>Success; fields depend on the request.</summary>
    Ok = 64,

    /// <summary>The request failed: <c>Error</c> and <c>Message</c>.</summary>
    Failed = 65,

    /// <summary>A lease: <c>LeaseId</c>, <c>Name</c>, <c>TtlMs</c> (possibly capped by the host), the bytes in the secret part.</summary>
    Granted = 66,

    /// <summary>Notice (request id 0): lease <c>LeaseId</c> is revoked (<c>Message</c> says why); zero it now.</summary>
    Revoked = 67,
}

/// <summary>Why a request failed, as the client maps it to an exception.</summary>
internal enum AgentError : byte
{
    Internal = 0,
    BadRequest = 1,
    Locked = 2,
    Busy = 3,
    Unavailable = 4,
    SecretInput = 5,
    Refused = 6,
    Protocol = 7,
}

/// <summary>
/// The non-secret part of one frame. Fields a kind does not use are null; unknown fields from a newer
/// peer are ignored. Never carries secret bytes (those travel in the frame's secret part, straight
/// between the socket and secret memory).
/// </summary>
internal sealed record AgentHeader(AgentKind Kind, uint RequestId)
{
    public string? Name { get; init; }

    public long? TtlMs { get; init; }

    public Guid? LeaseId { get; init; }

    public AgentError? Error { get; init; }

    public string? Message { get; init; }

    public int? Pid { get; init; }

    public int? Length { get; init; }

    public bool? Existed { get; init; }

    /// <summary>Status as <c>key=value</c> lines (keys are ASCII words, values have no line breaks).</summary>
    public string? Status { get; init; }
}

/// <summary>A frame that breaks the protocol: the connection that sent it is closed.</summary>
internal sealed class AgentProtocolException : IOException
{
    public AgentProtocolException(string message)
        : base(message)
    {
    }
}

/// <summary>
/// The standalone host's wire format, version 1, on a Unix stream socket. One frame:
/// <code>
/// u32 LE  H = header length (1..MaxHeaderBytes)
/// u32 LE  S = secret length (0..MaxSecretBytes; non-zero only in Unlock and Granted)
/// H bytes header: u8 version (1), u8 kind, u32 LE request id, then fields: u8 tag, u16 LE length, value
/// S bytes the secret, copied between the socket and secret memory by the kernel only
/// </code>
/// A descriptor (<c>SCM_RIGHTS</c>) may ride on the first byte of a <see cref="AgentKind.WriteTo"/>
/// frame only. Integers are little-endian; strings UTF-8 without NUL.
/// </summary>
internal static class AgentProtocol
{
    public const byte Version = 1;
    public const int PrefixBytes = 8;
    public const int MaxHeaderBytes = 4096;
    public const int MaxSecretBytes = 65536;

    /// <summary>The environment variable that names the host's socket (like SSH_AUTH_SOCK).</summary>
    public const string SocketVariable = "ACTORVAULT_SOCK";

    /// <summary>The environment variable that carries the host's pid (like SSH_AGENT_PID).</summary>
    public const string PidVariable = "ACTORVAULT_PID";

    private const byte TagName = 1;
    private const byte TagTtl = 2;
    private const byte TagLease = 3;
    private const byte TagError = 4;
    private const byte TagMessage = 5;
    private const byte TagPid = 6;
    private const byte TagLength = 7;
    private const byte TagExisted = 8;
    private const byte TagStatus = 9;
    private const int MaxStringBytes = 2048;

    /// <summary>Reads a frame prefix; throws when a length is out of range (before any buffer is made).</summary>
    public static (int HeaderLength, int SecretLength) ReadPrefix(ReadOnlySpan<byte> prefix)
    {
        uint header = BinaryPrimitives.ReadUInt32LittleEndian(prefix);
        uint secret = BinaryPrimitives.ReadUInt32LittleEndian(prefix[4..]);
        if (header is < 6 or > MaxHeaderBytes)
        {
            throw new AgentProtocolException($"A frame header of {header} bytes is out of range (6–{MaxHeaderBytes}).");
        }

        if (secret > MaxSecretBytes)
        {
            throw new AgentProtocolException($"A frame secret of {secret} bytes is out of range (0–{MaxSecretBytes}).");
        }

        return ((int)header, (int)secret);
    }

    /// <summary>Writes prefix and header into <paramref name="frame"/>; returns the bytes used.</summary>
    public static int Encode(AgentHeader header, int secretLength, Span<byte> frame)
    {
        ArgumentNullException.ThrowIfNull(header);
        if (secretLength is < 0 or > MaxSecretBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(secretLength), secretLength, $"A secret is 0–{MaxSecretBytes} bytes.");
        }

        Span<byte> body = frame[PrefixBytes..];
        body[0] = Version;
        body[1] = (byte)header.Kind;
        BinaryPrimitives.WriteUInt32LittleEndian(body[2..], header.RequestId);
        int at = 6;
        if (header.Name is { } name)
        {
            at = PutString(body, at, TagName, name);
        }

        if (header.TtlMs is long ttl)
        {
            at = PutInt64(body, at, TagTtl, ttl);
        }

        if (header.LeaseId is Guid lease)
        {
            at = PutTag(body, at, TagLease, 16);
            _ = lease.TryWriteBytes(body.Slice(at, 16));
            at += 16;
        }

        if (header.Error is AgentError error)
        {
            at = PutTag(body, at, TagError, 1);
            body[at++] = (byte)error;
        }

        if (header.Message is { } message)
        {
            at = PutString(body, at, TagMessage, message);
        }

        if (header.Pid is int pid)
        {
            at = PutInt64(body, at, TagPid, pid);
        }

        if (header.Length is int length)
        {
            at = PutInt64(body, at, TagLength, length);
        }

        if (header.Existed is bool existed)
        {
            at = PutTag(body, at, TagExisted, 1);
            body[at++] = existed ? (byte)1 : (byte)0;
        }

        if (header.Status is { } status)
        {
            at = PutString(body, at, TagStatus, status);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)at);
        BinaryPrimitives.WriteUInt32LittleEndian(frame[4..], (uint)secretLength);
        return PrefixBytes + at;
    }

    /// <summary>Parses a header (fuzzed: any input gives a header or an <see cref="AgentProtocolException"/>).</summary>
    public static AgentHeader Decode(ReadOnlySpan<byte> body)
    {
        if (body.Length is < 6 or > MaxHeaderBytes)
        {
            throw new AgentProtocolException($"A frame header of {body.Length} bytes is out of range.");
        }

        if (body[0] != Version)
        {
            throw new AgentProtocolException($"Protocol version {body[0]} is not supported (this side speaks {Version}).");
        }

        var kind = (AgentKind)body[1];
        if (!Enum.IsDefined(kind))
        {
            throw new AgentProtocolException($"Frame kind {body[1]} is unknown.");
        }

        var header = new AgentHeader(kind, BinaryPrimitives.ReadUInt32LittleEndian(body[2..]));
        uint seen = 0;
        int at = 6;
        while (at < body.Length)
        {
            if (body.Length - at < 3)
            {
                throw new AgentProtocolException("A field is cut off.");
            }

            byte tag = body[at];
            int length = BinaryPrimitives.ReadUInt16LittleEndian(body[(at + 1)..]);
            at += 3;
            if (length > body.Length - at)
            {
                throw new AgentProtocolException($"Field {tag} claims {length} bytes; {body.Length - at} are left.");
            }

            ReadOnlySpan<byte> value = body.Slice(at, length);
            at += length;
            if (tag is > 0 and < 32)
            {
                if ((seen & (1u << tag)) != 0)
                {
                    throw new AgentProtocolException($"Field {tag} appears twice.");
                }

                seen |= 1u << tag;
            }

            header = tag switch
            {
                TagName => header with { Name = String(value, tag) },
                TagTtl => header with { TtlMs = Int64(value, tag) },
                TagLease => header with { LeaseId = value.Length == 16 ? new Guid(value) : throw Bad(tag) },
                TagError => header with { Error = value.Length == 1 && Enum.IsDefined((AgentError)value[0]) ? (AgentError)value[0] : throw Bad(tag) },
                TagMessage => header with { Message = String(value, tag) },
                TagPid => header with { Pid = Int64(value, tag) is long pid and >= 0 and <= int.MaxValue ? (int)pid : throw Bad(tag) },
                TagLength => header with { Length = Int64(value, tag) is long n and >= 0 and <= MaxSecretBytes ? (int)n : throw Bad(tag) },
                TagExisted => header with { Existed = value.Length == 1 && value[0] <= 1 ? value[0] == 1 : throw Bad(tag) },
                TagStatus => header with { Status = String(value, tag) },
                // A newer peer's field: skipped.
                _ => header,
            };
        }

        return header;
    }

    /// <summary>Status fields as <c>key=value</c> lines, in order.</summary>
    public static string FormatStatus(IEnumerable<KeyValuePair<string, string>> fields) =>
        string.Join('\n', fields.Select(f => $"{f.Key}={f.Value.ReplaceLineEndings(" ")}"));

    public static Dictionary<string, string> ParseStatus(string? status)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in (status ?? string.Empty).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int equals = line.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0)
            {
                fields[line[..equals]] = line[(equals + 1)..];
            }
        }

        return fields;
    }

    private static int PutTag(Span<byte> body, int at, byte tag, int length)
    {
        if (at + 3 + length > MaxHeaderBytes)
        {
            throw new ArgumentException($"A frame header would exceed {MaxHeaderBytes} bytes.");
        }

        body[at] = tag;
        BinaryPrimitives.WriteUInt16LittleEndian(body[(at + 1)..], (ushort)length);
        return at + 3;
    }

    private static int PutInt64(Span<byte> body, int at, byte tag, long value)
    {
        at = PutTag(body, at, tag, 8);
        BinaryPrimitives.WriteInt64LittleEndian(body[at..], value);
        return at + 8;
    }

    private static int PutString(Span<byte> body, int at, byte tag, string value)
    {
        int length = Math.Min(Encoding.UTF8.GetByteCount(value), MaxStringBytes);
        at = PutTag(body, at, tag, length);
        if (length < Encoding.UTF8.GetByteCount(value))
        {
            // Truncated at a character boundary (messages only ever get long through a bug).
            value = value[..Math.Min(value.Length, MaxStringBytes / 4)];
            length = Encoding.UTF8.GetBytes(value, body[at..]);
            BinaryPrimitives.WriteUInt16LittleEndian(body[(at - 2)..], (ushort)length);
            return at + length;
        }

        _ = Encoding.UTF8.GetBytes(value, body[at..]);
        return at + length;
    }

    private static long Int64(ReadOnlySpan<byte> value, byte tag) =>
        value.Length == 8 ? BinaryPrimitives.ReadInt64LittleEndian(value) : throw Bad(tag);

    private static string String(ReadOnlySpan<byte> value, byte tag)
    {
        if (value.Length > MaxStringBytes || value.Contains((byte)0))
        {
            throw Bad(tag);
        }

        try
        {
#pragma warning disable RS0030 // header fields are public (names, messages, status); secrets travel in the frame's secret part only
            return new UTF8Encoding(false, true).GetString(value);
#pragma warning restore RS0030
        }
        catch (DecoderFallbackException)
        {
            throw Bad(tag);
        }
    }

    private static AgentProtocolException Bad(byte tag) => new($"Field {tag} is malformed.");
}
