using Akka.Event;

namespace ActorVault.Logging;

/// <summary>
/// Akka's log formatter for both ActorVault systems (<c>akka.logger-formatter</c>): secret-bearing
/// arguments are replaced by the redacted marker before the message is formatted.
/// </summary>
public sealed class RedactingLogMessageFormatter : ILogMessageFormatter
{
    /// <inheritdoc />
    public string Format(string format, params object[] args) =>
        SemanticLogMessageFormatter.Instance.Format(format, args.Select(LogRedaction.Redact).ToArray()!);

    /// <inheritdoc />
    public string Format(string format, IEnumerable<object> args) =>
        SemanticLogMessageFormatter.Instance.Format(format, args.Select(LogRedaction.Redact).ToArray()!);
}
