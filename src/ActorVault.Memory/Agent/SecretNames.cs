namespace ActorVault.Agent;

/// <summary>Secret names: 1–64 characters of <c>[A-Za-z0-9._-]</c>; they appear in logs and audit lines.</summary>
internal static class SecretNames
{
    public const int MaxLength = 64;

    /// <summary>The secret a command names when it names none.</summary>
    public const string Default = "password";

    public static bool IsValid(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= MaxLength && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    public static string Describe(string? name) =>
        name is null ? "(none)" : name.Length > MaxLength ? $"'{name[..MaxLength]}…'" : $"'{name}'";
}
