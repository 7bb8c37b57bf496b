using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace ActorVault.IntegrationTests;

/// <summary>A logger factory gets one category per component, the vault's lines as structured events at their real level.</summary>
public sealed class LoggingTests
{
    [Fact]
    public async Task LoggerFactory_CategoriesPerComponent_VaultLinesStructured_ChatterAtDebug_AuditStructured_NoSecret()
    {
        var provider = new CapturingProvider();
        using var factory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(provider));
        string secret = "logged-never-" + Guid.NewGuid().ToString("N");
        await using (VaultClient client = await VaultClient.StartAsync(new VaultClientOptions { LoggerFactory = factory }))
        {
            await client.SetSecretAsync("db", System.Text.Encoding.UTF8.GetBytes(secret).AsSpan());
            Assert.Equal(secret.Length, await client.WithSecretAsync("db", static b => b.Length));
        }

        Entry[] all = [.. provider.Entries];
        Assert.Contains(all, e => e.Category == "ActorVault.Supervisor" && e.Message.Contains("Locked -> Unlocked", StringComparison.Ordinal));

        // The vault's own lines: structured (source and message as properties), not "[vault] [I] …" text.
        Entry[] vault = [.. all.Where(e => e.Category == "ActorVault.Vault")];
        Assert.NotEmpty(vault);
        Assert.All(vault, e => Assert.DoesNotMatch(@"^\[[DIWE]\] ", (string)e.Properties["VaultMessage"]!));
        Assert.Contains(vault, e => e.Level == LogLevel.Information && ((string)e.Properties["VaultSource"]!).Contains("/user/vault", StringComparison.Ordinal));
        // Akka's own chatter (sources outside /user/) is never above Debug unless it is a warning or error.
        // (The process's own lines, source "vault", keep their level: start-up and exit.)
        Entry[] chatter = [.. vault.Where(e => (string)e.Properties["VaultSource"]! is var s && s != "vault" && !s.Contains("/user/", StringComparison.Ordinal) && e.Level < LogLevel.Warning)];
        Assert.NotEmpty(chatter); // "Starting remoting" and the like
        Assert.All(chatter, e => Assert.True(e.Level <= LogLevel.Debug, e.Message));

        // The audit trail: structured, in its own category.
        Entry granted = Assert.Single(all, e => e.Category == "ActorVault.Audit" && Equals(e.Properties.GetValueOrDefault("LeaseAuditKind"), LeaseAuditKind.Granted));
        Assert.Equal("db", granted.Properties["SecretName"]);
        Assert.Contains(all, e => e.Category == "ActorVault.Audit" && Equals(e.Properties.GetValueOrDefault("LeaseAuditKind"), LeaseAuditKind.Released));

        Assert.DoesNotContain(all, e => e.Message.Contains(secret, StringComparison.Ordinal));
    }

    private sealed record Entry(string Category, LogLevel Level, string Message, Dictionary<string, object?> Properties);

    private sealed class CapturingProvider : ILoggerProvider
    {
        public ConcurrentQueue<Entry> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Capturing(categoryName, Entries);

        public void Dispose()
        {
        }

        private sealed class Capturing(string category, ConcurrentQueue<Entry> entries) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                var properties = new Dictionary<string, object?>();
                if (state is IEnumerable<KeyValuePair<string, object?>> pairs)
                {
                    foreach (KeyValuePair<string, object?> pair in pairs)
                    {
                        properties[pair.Key] = pair.Value;
                    }
                }

                entries.Enqueue(new Entry(category, logLevel, formatter(state, exception), properties));
            }
        }
    }
}
