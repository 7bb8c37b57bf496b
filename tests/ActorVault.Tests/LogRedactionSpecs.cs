using Akka.Event;
using Akka.TestKit;
using ActorVault.Crypto;
using ActorVault.Logging;
using ActorVault.Memory;
using ActorVault.Protocol;
using Microsoft.Extensions.Logging;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace ActorVault.Tests;

/// <summary>Secret-bearing objects logged through every logger come out as the redacted marker only.</summary>
[Collection(SecretCountingCollection.Name)]
public sealed class LogRedactionSpecs : Akka.TestKit.Xunit2.TestKit
{
    private const string Plain = "plaintext-that-must-never-print";
    private static readonly byte[] Ciphertext = [0xde, 0xad, 0xbe, 0xef, 0x42];

    public LogRedactionSpecs()
        : base(SpecConfig.Client.WithFallback(Akka.Configuration.ConfigurationFactory.ParseString("akka.loglevel = INFO")))
    {
    }

    [Fact]
    public void AkkaLogger_SecretBufferLeaseAndSealedPayloads_PrintOnlyTheMarker()
    {
        using SecretBuffer buffer = SecretMemory.CopyFrom(System.Text.Encoding.UTF8.GetBytes(Plain));
        SecretLease lease = NewLease(buffer);
        var sealedValue = new PublicKeySealed([1], [2], [3], Ciphertext, [4]);
        TestProbe probe = CreateTestProbe();
        Sys.EventStream.Subscribe(probe.Ref, typeof(Info));

        Sys.Log.Info("buffer {0} lease {1} sealed {2} keys {3}", buffer, lease, sealedValue, new LeaseGranted(Guid.NewGuid(), Guid.NewGuid(), "main", 1, [1], Ciphertext, [2]));

        string line = probe.FishForMessage<Info>(i => i.Message.ToString()!.StartsWith("buffer", StringComparison.Ordinal)).Message.ToString()!;
        Assert.Contains(SecretBuffer.RedactedMarker, line, StringComparison.Ordinal);
        Assert.DoesNotContain(Plain, line, StringComparison.Ordinal);
        Assert.DoesNotContain("deadbeef", line, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("PublicKeySealed [REDACTED]", line, StringComparison.Ordinal);
        Assert.Contains("LeaseGranted [REDACTED]", line, StringComparison.Ordinal);
        lease.Close();
    }

    [Fact]
    public void AkkaLogger_SemanticAndPositionalTemplates_StillFormat()
    {
        var formatter = new RedactingLogMessageFormatter();
        Assert.Equal("invoked due to [x]. Exiting with [0].", formatter.Format("invoked due to [{Reason}]. Exiting with [{ExitCode}].", "x", 0));
        Assert.Equal("a 1 b 2", formatter.Format("a {0} b {1}", 1, 2));
    }

    [Fact]
    public void MicrosoftExtensionsLogging_ThroughRedactingLogger_PrintsOnlyTheMarker()
    {
        using SecretBuffer buffer = SecretMemory.CopyFrom(System.Text.Encoding.UTF8.GetBytes(Plain));
        SecretLease lease = NewLease(buffer);
        var capture = new CapturingLogger();
        ILogger logger = RedactingLogger.ForLogger(capture);

        logger.LogInformation("lease {Lease} buffer {Buffer} sealed {Sealed} plain {Count}", lease, buffer, new PublicKeySealed([1], [2], [3], Ciphertext, [4]), 7);

        (string message, IReadOnlyList<KeyValuePair<string, object?>> values) = Assert.Single(capture.Entries);
        Assert.Equal("lease [REDACTED] buffer [REDACTED] sealed [REDACTED] plain 7", message);
        Assert.All(values.Where(v => v.Key is "Lease" or "Buffer" or "Sealed"), v => Assert.Equal(SecretBuffer.RedactedMarker, v.Value));
        Assert.DoesNotContain(values, v => v.Value is SecretBuffer or SecretLease or PublicKeySealed);
        lease.Close();
    }

    [Fact]
    public void DevelopmentSwitch_ShowsSealedCiphertextOnly_NeverSecretBytes()
    {
        using SecretBuffer buffer = SecretMemory.CopyFrom(System.Text.Encoding.UTF8.GetBytes(Plain));
        try
        {
            LogRedaction.Enabled = false;
            string line = new RedactingLogMessageFormatter().Format("{0} {1}", buffer, new LeaseGranted(Guid.NewGuid(), Guid.NewGuid(), "main", 1, [1], Ciphertext, [2]));
            Assert.Contains("deadbeef42", line, StringComparison.Ordinal);
            Assert.Contains(SecretBuffer.RedactedMarker, line, StringComparison.Ordinal);
            Assert.DoesNotContain(Plain, line, StringComparison.Ordinal);
        }
        finally
        {
            LogRedaction.Enabled = true;
        }
    }

    [Fact]
    public void ComplianceRedactor_ForTheSecretMaterialClassification_GivesTheMarker()
    {
        Assert.Equal("ActorVault", ActorVaultTaxonomy.SecretMaterial.TaxonomyName);
        Assert.Equal(SecretBuffer.RedactedMarker, SecretMaterialRedactor.Instance.Redact(Plain));
        Assert.Equal(ActorVaultTaxonomy.SecretMaterial, new SecretMaterialAttribute().Classification);
    }

    private static SecretLease NewLease(SecretBuffer buffer)
    {
        SecretBuffer copy = SecretMemory.Allocate(buffer.Length);
        using (SecretBuffer.Scope from = buffer.Open())
        using (SecretBuffer.Scope to = copy.Open())
        {
            from.Bytes.CopyTo(to.WritableBytes);
        }

        return new SecretLease(Guid.NewGuid(), "main", TimeSpan.FromMinutes(1), copy);
    }

    private sealed class CapturingLogger : ILogger
    {
        public List<(string Message, IReadOnlyList<KeyValuePair<string, object?>> Values)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add((formatter(state, exception), state as IReadOnlyList<KeyValuePair<string, object?>> ?? []));
    }
}
