using Microsoft.Extensions.Logging;

namespace ActorVault.Logging;

/// <summary>
/// The vault child's log lines (its stderr: <c>[I] akka://actorvault/user/vault/keystore-1: message</c>,
/// written by its <c>StandardErrorLogger</c>) as structured events of the application's logger: at their
/// real level, with the vault-side source as a property; Akka's own start-up, remoting and shutdown
/// chatter (every source outside <c>/user/</c>) at Debug.
/// </summary>
internal static class VaultLogLines
{
    public static void Log(ILogger logger, string line)
    {
        (LogLevel level, string source, string message) = Parse(line);
        if (logger.IsEnabled(level))
        {
            logger.Log(level, "{VaultSource}: {VaultMessage}", source, message);
        }
    }

    internal static (LogLevel Level, string Source, string Message) Parse(string line)
    {
        if (line.Length < 4 || line[0] != '[' || line[2] != ']' || line[3] != ' ')
        {
            return (LogLevel.Information, "vault", line); // a line of the process itself (start-up, shutdown marker)
        }

        LogLevel level = line[1] switch
        {
            'D' => LogLevel.Debug,
            'I' => LogLevel.Information,
            'W' => LogLevel.Warning,
            _ => LogLevel.Error,
        };
        string rest = line[4..];
        int colon = rest.IndexOf(": ", StringComparison.Ordinal);
        string source = colon > 0 ? rest[..colon] : "vault";
        string message = colon > 0 ? rest[(colon + 2)..] : rest;
        bool chatter = !source.Contains("/user/", StringComparison.Ordinal);
        return (chatter && level <= LogLevel.Information ? LogLevel.Debug : level, source, message);
    }
}
