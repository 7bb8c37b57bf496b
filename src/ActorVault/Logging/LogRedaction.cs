using ActorVault.Crypto;
using ActorVault.Memory;
using ActorVault.Protocol;
using ActorVault.Serialization;
using Microsoft.Extensions.Compliance.Classification;
using Microsoft.Extensions.Compliance.Redaction;

namespace ActorVault.Logging;

/// <summary>
/// Log redaction (the PoC's console sanitization, done at the loggers): secret-bearing objects —
/// secret buffers, leases, session keys, sealed payloads and envelopes — are replaced by
/// <see cref="SecretBuffer.RedactedMarker"/> before a log line is formatted, in Akka's logger
/// (<see cref="RedactingLogMessageFormatter"/>) and in Microsoft.Extensions.Logging
/// (<see cref="RedactingLogger"/>, and <see cref="ActorVaultTaxonomy.SecretMaterial"/> with the
/// <see cref="SecretMaterialRedactor"/> for source-generated loggers that use Compliance.Redaction).
/// </summary>
public static class LogRedaction
{
    private static int _disabled;

    /// <summary>
    /// Development switch: when false, sealed payloads (ciphertext, never plaintext) print their bytes
    /// in hex for protocol debugging. Secret buffers and leases never print their bytes, switch or not.
    /// Logs a warning when turned off. Default true.
    /// </summary>
    public static bool Enabled
    {
        get => Volatile.Read(ref _disabled) == 0;
        set
        {
            Volatile.Write(ref _disabled, value ? 0 : 1);
            if (!value)
            {
                Console.Error.WriteLine("actorvault: WARNING: log redaction of sealed payloads is OFF (development only).");
            }
        }
    }

    /// <summary>
    /// Text from a peer, made safe for one log line: control characters (newlines, escapes) become
    /// <c>\xNN</c>, and at most 200 characters are kept — a peer cannot forge or flood log lines.
    /// </summary>
    internal static string Escape(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return string.Empty;
        }

        var sb = new System.Text.StringBuilder(Math.Min(text.Length, 200) + 8);
        foreach (char c in text.Length > 200 ? text[..200] : text)
        {
            if (char.IsControl(c) || c is '\u2028' or '\u2029')
            {
                sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
            }
            else
            {
                sb.Append(c);
            }
        }

        return text.Length > 200 ? sb.Append('…').ToString() : sb.ToString();
    }

    /// <summary>True for objects whose printing could carry secret or sealed material.</summary>
    public static bool IsSecretBearing(object? value) => value is SecretBuffer or SecretLease or SecretHold or SessionKeys
        or PublicKeySealed or LeaseGranted or SetSecret or VerifySecret or VaultEnvelope;

    /// <summary>The value to print for <paramref name="value"/>: itself, or the redacted marker.</summary>
    public static object? Redact(object? value)
    {
        if (!IsSecretBearing(value))
        {
            return value;
        }

        if (!Enabled && value is PublicKeySealed or LeaseGranted)
        {
            return DebugDump(value!);
        }

        return value switch
        {
            SecretLease lease => lease.ToString(),
            SecretBuffer buffer => buffer.ToString(),
            _ => $"{value!.GetType().Name} {SecretBuffer.RedactedMarker}",
        };
    }

    private static string DebugDump(object value) => value switch
    {
        PublicKeySealed p => $"PublicKeySealed(ciphertext {Hex(p.Ciphertext)}, tag {Hex(p.Tag)})",
        LeaseGranted g => $"LeaseGranted({g.Name}, {g.LeaseId}, ciphertext {Hex(g.Ciphertext)}, tag {Hex(g.Tag)})",
        _ => value.GetType().Name,
    };

    private static string Hex(byte[]? bytes) => bytes is null ? "null" : string.Concat(bytes.Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));
}

/// <summary>ActorVault's data classification for Microsoft.Extensions.Compliance.</summary>
public static class ActorVaultTaxonomy
{
    /// <summary>The taxonomy's name.</summary>
    public const string Name = "ActorVault";

    /// <summary>Secret material: passwords, keys, lease bytes, sealed payloads. Always redacted.</summary>
    public static DataClassification SecretMaterial { get; } = new(Name, nameof(SecretMaterial));
}

/// <summary>Marks a log parameter or property as <see cref="ActorVaultTaxonomy.SecretMaterial"/>.</summary>
[AttributeUsage(AttributeTargets.Parameter | AttributeTargets.Property | AttributeTargets.Field | AttributeTargets.ReturnValue)]
public sealed class SecretMaterialAttribute : DataClassificationAttribute
{
    /// <summary>Creates the attribute.</summary>
    public SecretMaterialAttribute()
        : base(ActorVaultTaxonomy.SecretMaterial)
    {
    }
}

/// <summary>
/// A Compliance.Redaction redactor that replaces any value by <see cref="SecretBuffer.RedactedMarker"/>:
/// register it for <see cref="ActorVaultTaxonomy.SecretMaterial"/>
/// (<c>services.AddRedaction(b => b.SetRedactor&lt;SecretMaterialRedactor&gt;(ActorVaultTaxonomy.SecretMaterial))</c>).
/// </summary>
public sealed class SecretMaterialRedactor : Redactor
{
    /// <summary>The shared instance.</summary>
    public static SecretMaterialRedactor Instance { get; } = new();

    /// <inheritdoc />
    public override int GetRedactedLength(ReadOnlySpan<char> input) => SecretBuffer.RedactedMarker.Length;

    /// <inheritdoc />
    public override int Redact(ReadOnlySpan<char> source, Span<char> destination)
    {
        SecretBuffer.RedactedMarker.AsSpan().CopyTo(destination);
        return SecretBuffer.RedactedMarker.Length;
    }
}

/// <summary>Lets the first few of a kind of audit line through, then one in every thousand (with the count).</summary>
internal sealed class AuditThrottle
{
    private long _count;

    /// <summary>True when this occurrence should be logged; <paramref name="count"/> is how many there were so far.</summary>
    public bool Next(out long count)
    {
        count = Interlocked.Increment(ref _count);
        return count <= 5 || count % 1000 == 0;
    }
}
