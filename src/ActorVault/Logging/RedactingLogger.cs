using System.Globalization;
using System.Text;
using Microsoft.Extensions.Compliance.Redaction;
using Microsoft.Extensions.Logging;

namespace ActorVault.Logging;

/// <summary>
/// A Microsoft.Extensions.Logging decorator: structured state whose values are secret-bearing (see
/// <see cref="LogRedaction.IsSecretBearing"/>) reaches the inner logger with those values replaced by a
/// Compliance.Redaction <see cref="Redactor"/> (default <see cref="SecretMaterialRedactor"/>), in the
/// properties and in the formatted message. ActorVault logs through it; wrap your own loggers with it
/// (<see cref="ForLogger"/>) where secret types may be logged.
/// </summary>
public sealed class RedactingLogger : ILogger
{
    private readonly ILogger _inner;
    private readonly Redactor _redactor;

    /// <summary>Wraps <paramref name="inner"/>.</summary>
    public RedactingLogger(ILogger inner, Redactor? redactor = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
        _redactor = redactor ?? SecretMaterialRedactor.Instance;
    }

    /// <summary>Wraps <paramref name="inner"/> (idempotent).</summary>
    public static ILogger ForLogger(ILogger inner) => inner as RedactingLogger ?? new RedactingLogger(inner);

    /// <inheritdoc />
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => _inner.BeginScope(state);

    /// <inheritdoc />
    public bool IsEnabled(LogLevel logLevel) => _inner.IsEnabled(logLevel);

    /// <inheritdoc />
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        if (state is not IReadOnlyList<KeyValuePair<string, object?>> values || !values.Any(v => LogRedaction.IsSecretBearing(v.Value)))
        {
            _inner.Log(logLevel, eventId, state, exception, formatter);
            return;
        }

        var redacted = new RedactedState(values.Select(v => LogRedaction.IsSecretBearing(v.Value) ? new KeyValuePair<string, object?>(v.Key, _redactor.Redact(v.Value!.GetType().Name)) : v).ToList());
        _inner.Log(logLevel, eventId, redacted, exception, static (s, _) => s.ToString());
    }

    /// <summary>The structured values with secret-bearing ones redacted; formats the original template.</summary>
    private sealed class RedactedState(List<KeyValuePair<string, object?>> values) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public int Count => values.Count;

        public KeyValuePair<string, object?> this[int index] => values[index];

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => values.GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString()
        {
            string template = values.FirstOrDefault(v => v.Key == "{OriginalFormat}").Value as string ?? string.Empty;
            var output = new StringBuilder(template.Length + 32);
            for (int i = 0; i < template.Length; i++)
            {
                if (template[i] == '{' && i + 1 < template.Length && template[i + 1] == '{')
                {
                    output.Append('{');
                    i++;
                }
                else if (template[i] == '}' && i + 1 < template.Length && template[i + 1] == '}')
                {
                    output.Append('}');
                    i++;
                }
                else if (template[i] == '{' && template.IndexOf('}', i) is int end and > 0)
                {
                    string hole = template[(i + 1)..end];
                    string name = hole.Split(',', ':')[0].Trim();
                    object? value = values.FirstOrDefault(v => v.Key == name).Value;
                    output.Append(Convert.ToString(value, CultureInfo.InvariantCulture));
                    i = end;
                }
                else
                {
                    output.Append(template[i]);
                }
            }

            return output.ToString();
        }
    }
}
