using System.Globalization;
using System.Text;
using ActorVault.Memory;
using ActorVault.Memory.Readers;

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

/// <summary>What a client needs to reach a standalone host: its address and pid (public) and the client key (secret memory).</summary>
internal sealed record HostInfo(string Address, int HostPid, SecretBuffer ClientKey) : IDisposable
{
    /// <summary>With mutual TLS: the host certificate's SHA-256, the client certificate (DER) and its PKCS#8 private key (secret memory).</summary>
    public HostTlsInfo? Tls { get; init; }

    public void Dispose()
    {
        ClientKey.Dispose();
        Tls?.ClientPrivateKey.Dispose();
    }

    public override string ToString() => $"HostInfo {Address} pid {HostPid} key {SecretBuffer.RedactedMarker}";
}

/// <summary>The standalone host's TLS material for its clients (with <c>serve --mutual-tls</c>).</summary>
internal sealed record HostTlsInfo(byte[] HostDigest, byte[] ClientCertificate, SecretBuffer ClientPrivateKey);

/// <summary>
/// The standalone host's connection-info file, like ssh-agent's socket: whoever can read it can lease
/// the secret, so it lives in a directory only its user can write (default
/// <c>$XDG_RUNTIME_DIR/actorvault/host.info</c>), is created <c>0600</c> with <c>O_EXCL|O_NOFOLLOW</c>,
/// written from secret memory, read back into secret memory (the key never becomes a string or a
/// managed array), and overwritten with zeros when the host stops. Format (ASCII, one field per line):
/// <code>
/// actorvault-host 1
/// address=akka.tcp://actorvault-host@127.0.0.1:PORT
/// pid=PID
/// key=64 hex digits
/// </code>
/// With mutual TLS the address is <c>akka.ssl.tcp://…</c> and three lines follow: <c>tls-host=</c> (the
/// host certificate's SHA-256), <c>tls-cert=</c> (the client certificate, DER) and <c>tls-key=</c> (its
/// PKCS#8 private key, read into secret memory like the client key).
/// </summary>
internal static class HostInfoFile
{
    public const int MaxBytes = 4096;
    public const string Magic = "actorvault-host 1";
    public const string AddressPrefix = "akka.tcp://actorvault-host@127.0.0.1:";
    public const string TlsAddressPrefix = "akka.ssl.tcp://actorvault-host@127.0.0.1:";
    private const int MaxCertificateBytes = 1024;
    private const int MaxPrivateKeyBytes = 256;
    private const int KeyBytes = 32;

    /// <summary>The default path: <c>$XDG_RUNTIME_DIR/actorvault/host.info</c>, else <c>/tmp/actorvault-UID/host.info</c>.</summary>
    public static string DefaultPath
    {
        get
        {
            string? runtime = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
            string directory = !string.IsNullOrEmpty(runtime) && Path.IsPathRooted(runtime)
                ? Path.Combine(runtime, "actorvault")
                : Path.Combine(Path.GetTempPath(), string.Create(CultureInfo.InvariantCulture, $"actorvault-{SecretFiles.CurrentUserId}"));
            return Path.Combine(directory, "host.info");
        }
    }

    /// <summary>
    /// Makes sure <paramref name="path"/>'s directory exists (created <c>0700</c> if missing), is a real
    /// directory owned by this user or root, and is writable by nobody else — otherwise another user
    /// could swap the file. Throws <see cref="HostConnectionException"/> saying what is wrong.
    /// </summary>
    public static void CheckDirectory(string path)
    {
        string directory = Path.GetDirectoryName(Path.GetFullPath(path)) ?? "/";
        FileOwnership dir = SecretFiles.Inspect(directory);
        if (!dir.Exists)
        {
            try
            {
                Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new HostConnectionException($"Cannot create the info file's directory '{directory}': {e.Message}", e);
            }

            dir = SecretFiles.Inspect(directory);
        }

        if (dir.IsSymbolicLink || !dir.IsDirectory)
        {
            throw new HostConnectionException($"The info file's directory '{directory}' is not a directory (a symlink or a file); refusing to use it.");
        }

        uint me = SecretFiles.CurrentUserId;
        if (dir.OwnerId != me && dir.OwnerId != 0)
        {
            throw new HostConnectionException($"The info file's directory '{directory}' belongs to user {dir.OwnerId}, not to you ({me}); refusing to use it.");
        }

        if (dir.WritableByOthers)
        {
            throw new HostConnectionException(string.Create(CultureInfo.InvariantCulture, $"The info file's directory '{directory}' is writable by others (mode {Convert.ToString(dir.Permissions, 8)}); use a private directory (chmod 700) or --info-file elsewhere."));
        }
    }

    /// <summary>Writes a new info file; the content is assembled in secret memory.</summary>
    public static void Write(string path, string address, int pid, SecretBuffer clientKey, HostTlsInfo? tls = null)
    {
        ArgumentNullException.ThrowIfNull(clientKey);
        if (!address.StartsWith(tls is null ? AddressPrefix : TlsAddressPrefix, StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{address}' is not a loopback actorvault-host address.", nameof(address));
        }

        string tlsLines = tls is null
            ? string.Empty
            : $"tls-host={Convert.ToHexStringLower(tls.HostDigest)}\ntls-cert={Convert.ToHexStringLower(tls.ClientCertificate)}\n";
        byte[] head = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{Magic}\naddress={address}\npid={pid}\n{tlsLines}key="));
        byte[] keyLabel = "\ntls-key="u8.ToArray();
        int tlsKeyLength = tls is null ? 0 : keyLabel.Length + (2 * tls.ClientPrivateKey.Length);
        using SecretBuffer content = SecretMemory.Allocate(head.Length + (2 * KeyBytes) + tlsKeyLength + 1);
        content.Write((head, clientKey, tls, keyLabel), static (span, state) =>
        {
            state.head.CopyTo(span);
            int at = state.head.Length + WriteHex(state.clientKey, span[state.head.Length..]);
            if (state.tls is not null)
            {
                state.keyLabel.CopyTo(span[at..]);
                at += state.keyLabel.Length;
                at += WriteHex(state.tls.ClientPrivateKey, span[at..]);
            }

            span[at] = (byte)'\n';
        });
        SecretFiles.WriteNew(path, content);
    }

    private static int WriteHex(SecretBuffer source, Span<byte> hex)
    {
        using SecretBuffer.Scope bytes = source.Open();
        for (int i = 0; i < bytes.Bytes.Length; i++)
        {
            hex[2 * i] = Hex(bytes.Bytes[i] >> 4);
            hex[(2 * i) + 1] = Hex(bytes.Bytes[i] & 0xF);
        }

        return 2 * bytes.Bytes.Length;
    }

    /// <summary>
    /// Reads and checks an info file: a regular file (not a symlink), owned by this user, readable by
    /// nobody else, in a directory nobody else can write, at most 4 KiB, well formed.
    /// </summary>
    public static HostInfo Read(string path)
    {
        // One descriptor for the checks and the read (no symlink followed, no FIFO waited on).
        SecretBuffer content;
        FileOwnership file;
        try
        {
            content = SecretFiles.ReadRegularFile(path, MaxBytes, out file);
        }
        catch (FileNotFoundException)
        {
            throw new HostConnectionException($"No actorvault host: '{path}' does not exist (start one with 'actorvault serve', or pass --info-file).");
        }
        catch (IOException e)
        {
            throw new HostConnectionException($"{e.Message} Refusing '{path}' as an info file.", e);
        }
        catch (SecretInputException e)
        {
            throw new HostConnectionException($"Cannot read '{path}': {e.Message}", e);
        }

        using (content)
        {
            if (file.OwnerId != SecretFiles.CurrentUserId)
            {
                throw new HostConnectionException($"'{path}' belongs to user {file.OwnerId}, not to you ({SecretFiles.CurrentUserId}); refusing it.");
            }

            if (file.AccessibleByOthers)
            {
                throw new HostConnectionException(string.Create(CultureInfo.InvariantCulture, $"'{path}' is accessible by others (mode {Convert.ToString(file.Permissions, 8)}); it must be 600. Refusing it."));
            }

            CheckDirectory(path);
            using SecretBuffer.Scope scope = content.Open();
            return Parse(scope.Bytes, path);
        }
    }

    /// <summary>Parses info-file bytes (fuzzed: any input gives a <see cref="HostInfo"/> or a <see cref="HostConnectionException"/>).</summary>
    public static HostInfo Parse(ReadOnlySpan<byte> content, string source)
    {
        if (content.Length > MaxBytes)
        {
            throw Bad(source, $"larger than {MaxBytes} bytes");
        }

        string? address = null;
        int pid = 0;
        SecretBuffer? key = null;
        SecretBuffer? tlsKey = null;
        byte[]? tlsHost = null;
        byte[]? tlsCert = null;
        try
        {
            int lineNumber = 0;
            while (!content.IsEmpty)
            {
                int end = content.IndexOf((byte)'\n');
                ReadOnlySpan<byte> line = end < 0 ? content : content[..end];
                content = end < 0 ? [] : content[(end + 1)..];
                lineNumber++;
                if (lineNumber == 1)
                {
                    if (!line.SequenceEqual(Encoding.ASCII.GetBytes(Magic)))
                    {
                        throw Bad(source, $"the first line is not '{Magic}'");
                    }

                    continue;
                }

                int equals = line.IndexOf((byte)'=');
                if (equals <= 0)
                {
                    throw Bad(source, $"line {lineNumber} is not name=value");
                }

                ReadOnlySpan<byte> name = line[..equals];
                ReadOnlySpan<byte> value = line[(equals + 1)..];
                if (name.SequenceEqual("key"u8))
                {
                    if (key is not null)
                    {
                        throw Bad(source, "key appears twice");
                    }

                    key = ParseHex(value, KeyBytes, KeyBytes, "the key", source);
                }
                else if (name.SequenceEqual("tls-key"u8))
                {
                    tlsKey = tlsKey is null ? ParseHex(value, 32, MaxPrivateKeyBytes, "the TLS key", source) : throw Bad(source, "tls-key appears twice");
                }
                else if (name.SequenceEqual("tls-host"u8))
                {
                    tlsHost = tlsHost is null ? ParsePublicHex(value, 32, 32, "the TLS host digest", source) : throw Bad(source, "tls-host appears twice");
                }
                else if (name.SequenceEqual("tls-cert"u8))
                {
                    tlsCert = tlsCert is null ? ParsePublicHex(value, 64, MaxCertificateBytes, "the TLS certificate", source) : throw Bad(source, "tls-cert appears twice");
                }
                else if (name.SequenceEqual("address"u8))
                {
                    address = address is null ? ParseAddress(value, source) : throw Bad(source, "address appears twice");
                }
                else if (name.SequenceEqual("pid"u8))
                {
                    pid = pid == 0 ? ParsePid(value, source) : throw Bad(source, "pid appears twice");
                }
                else
                {
                    throw Bad(source, $"line {lineNumber} has an unknown field");
                }
            }

            if (lineNumber == 0)
            {
                throw Bad(source, "it is empty");
            }

            if (address is null || pid == 0 || key is null)
            {
                throw Bad(source, $"it lacks {(address is null ? "address" : pid == 0 ? "pid" : "key")}");
            }

            bool secure = address.StartsWith(TlsAddressPrefix, StringComparison.Ordinal);
            bool anyTls = tlsKey is not null || tlsHost is not null || tlsCert is not null;
            if (secure != anyTls || (secure && (tlsKey is null || tlsHost is null || tlsCert is null)))
            {
                throw Bad(source, secure ? "a TLS address needs tls-host, tls-cert and tls-key" : "TLS fields without a TLS address");
            }

            var info = new HostInfo(address, pid, key) { Tls = secure ? new HostTlsInfo(tlsHost!, tlsCert!, tlsKey!) : null };
            key = null;
            tlsKey = null;
            return info;
        }
        finally
        {
            key?.Dispose();
            tlsKey?.Dispose();
        }
    }

    private static byte[] ParsePublicHex(ReadOnlySpan<byte> hex, int min, int max, string what, string source)
    {
        using SecretBuffer parsed = ParseHex(hex, min, max, what, source);
        return parsed.Use(static bytes => bytes.ToArray());
    }

    private static SecretBuffer ParseHex(ReadOnlySpan<byte> hex, int min, int max, string what, string source)
    {
        if (hex.Length % 2 != 0 || hex.Length < 2 * min || hex.Length > 2 * max)
        {
            throw Bad(source, min == max ? $"{what} is not {2 * min} hex digits" : $"{what} is not {2 * min}–{2 * max} hex digits");
        }

        int length = hex.Length / 2;
        SecretBuffer key = SecretMemory.Allocate(length);
        bool ok = false;
        try
        {
            using (SecretBuffer.Scope scope = key.Open())
            {
                Span<byte> bytes = scope.WritableBytes;
                for (int i = 0; i < length; i++)
                {
                    int high = Nibble(hex[2 * i]);
                    int low = Nibble(hex[(2 * i) + 1]);
                    if ((high | low) < 0)
                    {
                        throw Bad(source, $"{what} has a character that is not a hex digit");
                    }

                    bytes[i] = (byte)((high << 4) | low);
                }
            }

            ok = true;
            return key;
        }
        finally
        {
            if (!ok)
            {
                key.Dispose();
            }
        }
    }

    private static string ParseAddress(ReadOnlySpan<byte> value, string source)
    {
        if (value.Length > 128 || !Ascii.IsValid(value))
        {
            throw Bad(source, "the address is not a short ASCII string");
        }

#pragma warning disable RS0030 // the host's address: public, never secret
        string address = Encoding.ASCII.GetString(value);
#pragma warning restore RS0030
        string prefix = address.StartsWith(TlsAddressPrefix, StringComparison.Ordinal) ? TlsAddressPrefix : AddressPrefix;
        if (!address.StartsWith(prefix, StringComparison.Ordinal)
            || !int.TryParse(address.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int port)
            || port is < 1 or > 65535)
        {
            throw Bad(source, $"the address is not {AddressPrefix}PORT (the host listens on loopback only)");
        }

        return address;
    }

    private static int ParsePid(ReadOnlySpan<byte> value, string source) =>
        value.Length is > 0 and <= 10 && int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && pid > 0
            ? pid
            : throw Bad(source, "the pid is not a positive number");

    private static HostConnectionException Bad(string source, string what) =>
        new($"'{source}' is not an actorvault host info file: {what}.");

    private static byte Hex(int nibble) => (byte)(nibble < 10 ? '0' + nibble : 'a' + nibble - 10);

    private static int Nibble(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        _ => -1,
    };
}
