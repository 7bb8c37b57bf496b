using System.Security.Cryptography;
using System.Text;

namespace ActorVault.Testing;

/// <summary>
/// A unique random secret planted by a test, and the forms a scan looks for: UTF-8, UTF-16LE, and
/// base64 of the UTF-8 bytes at each of the three alignments.
/// </summary>
public sealed class SecretPattern
{
    private const string Alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

    private SecretPattern(string text)
    {
        Text = text;
        Utf8 = Encoding.UTF8.GetBytes(text);
        Utf16 = Encoding.Unicode.GetBytes(text);
        Base64 = Enumerable.Range(0, 3).Select(shift =>
        {
            byte[] shifted = new byte[shift + Utf8.Length];
            Utf8.CopyTo(shifted, shift);
            string b64 = Convert.ToBase64String(shifted);
            // Drop the characters that depend on the neighbouring bytes.
            int skip = shift == 0 ? 0 : ((shift * 4) + 2) / 3 + 1;
            int end = b64.TrimEnd('=').Length - 3;
            return Encoding.ASCII.GetBytes(b64[skip..end]);
        }).ToArray();
    }

    /// <summary>The secret as text (only the test process, which is never scanned, holds it).</summary>
    public string Text { get; }

    /// <summary>UTF-8 form.</summary>
    public byte[] Utf8 { get; }

    /// <summary>UTF-16LE form.</summary>
    public byte[] Utf16 { get; }

    /// <summary>Stable inner parts of the base64 form at each alignment.</summary>
    public IReadOnlyList<byte[]> Base64 { get; }

    /// <summary>The pattern of a given secret text (for tools that receive the secret from a script).</summary>
    public static SecretPattern FromText(string text)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);
        return new SecretPattern(text);
    }

    /// <summary>A fresh secret of <paramref name="length"/> characters, never seen before.</summary>
    public static SecretPattern Create(int length = 32)
    {
        var text = new StringBuilder("AV");
        for (int i = 2; i < length; i++)
        {
            text.Append(Alphabet[RandomNumberGenerator.GetInt32(Alphabet.Length)]);
        }

        return new SecretPattern(text.ToString());
    }
}
