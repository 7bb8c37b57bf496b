using Microsoft.Extensions.DependencyInjection;
using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using ActorVault.TestKit;

namespace ActorVault.IntegrationTests;

/// <summary>Lease metrics on the "ActorVault" meter (what OpenTelemetry or dotnet-counters would read).</summary>
public sealed class MetricsTests
{
    [Fact]
    public async Task Leases_OnTheApplicationsMeterFactory_FollowOpenTelemetryConventions_AndASpanPerLease()
    {
        string secret = $"metrics-{Guid.NewGuid():N}"[..30];
        using Microsoft.Extensions.DependencyInjection.ServiceProvider services = new Microsoft.Extensions.DependencyInjection.ServiceCollection().AddMetrics().BuildServiceProvider();
        IMeterFactory factory = services.GetRequiredService<IMeterFactory>();

        var measured = new ConcurrentQueue<(string Instrument, string? Unit, double Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            // Only this test's meter: the one its factory made (other tests use the shared meter).
            if (instrument.Meter.Name == VaultMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, factory))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var all = new Dictionary<string, object?>();
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                all[tag.Key] = tag.Value;
            }

            measured.Enqueue((instrument.Name, instrument.Unit, value, all));
        }

        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Add(i, v, t));
        listener.SetMeasurementEventCallback<double>((i, v, t, _) => Add(i, v, t));
        listener.Start();

        var spans = new ConcurrentQueue<System.Diagnostics.Activity>();
        using var tracing = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name == VaultMetrics.ActivitySourceName,
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a =>
            {
                if ((string?)a.GetTagItem("actorvault.secret.name") == secret)
                {
                    spans.Enqueue(a);
                }
            },
        };
        System.Diagnostics.ActivitySource.AddActivityListener(tracing);

        await using var vault = new TestVault(new TestVaultOptions { MaxConcurrentLeases = 1, MeterFactory = factory });
        await vault.SetSecretAsync(secret, "m"u8.ToArray().AsSpan());
        for (int i = 0; i < 3; i++)
        {
            await vault.WithSecretAsync(secret, static s => s.Length);
        }

        // Expired while its callback ran: the call throws the cause (it never returns the value).
        await Assert.ThrowsAsync<LeaseExpiredException>(() => vault.WithSecretAsync(secret, async lease =>
        {
            var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (lease.Ended.Register(() => ended.SetResult()))
            {
                await ended.Task.WaitAsync(TimeSpan.FromSeconds(60));
            }

            return 0;
        }, new LeaseOptions { Ttl = TimeSpan.FromMilliseconds(100) }));
        await vault.LockSecretAsync(secret);
        await Assert.ThrowsAsync<SecretLockedException>(() => vault.WithSecretAsync(secret, static s => s.Length));

        (string Instrument, string? Unit, double Value, Dictionary<string, object?> Tags)[] all = [.. measured];
        Assert.All(all, m => Assert.Equal(secret, m.Tags["actorvault.secret.name"])); // namespaced, never the bare "secret"
        string[] Outcomes(string instrument) => [.. all.Where(m => m.Instrument == instrument).Select(m => (string)m.Tags["actorvault.lease.outcome"]!).Order(StringComparer.Ordinal)];

        // One counter, the outcome as an attribute; error.type on a refusal.
        Assert.Equal(["granted", "granted", "granted", "granted", "refused"], Outcomes("actorvault.lease.requests"));
        Assert.Equal("SecretLockedException", all.Single(m => m.Tags.GetValueOrDefault("actorvault.lease.outcome") as string == "refused").Tags["error.type"]);

        // Durations in seconds, exactly once per granted lease, by how it ended.
        Assert.Equal(["expired", "released", "released", "released"], Outcomes("actorvault.lease.duration"));
        Assert.All(all.Where(m => m.Instrument == "actorvault.lease.duration"), m => Assert.Equal("s", m.Unit));
        double expiredAfter = all.Single(m => m.Instrument == "actorvault.lease.duration" && (string)m.Tags["actorvault.lease.outcome"]! == "expired").Value;
        Assert.InRange(expiredAfter, 0.05, 30); // seconds, not milliseconds
        Assert.Equal(0, all.Where(m => m.Instrument == "actorvault.lease.active").Sum(m => m.Value));

        // A span per lease request: outcome and lease id, never a byte.
        Assert.Equal(5, spans.Count);
        Assert.Equal(4, spans.Count(a => a.GetTagItem("actorvault.lease.id") is string));
        Assert.Contains(spans, a => (string?)a.GetTagItem("actorvault.lease.outcome") == "expired" && a.Status == System.Diagnostics.ActivityStatusCode.Error);
        Assert.All(spans, a => Assert.DoesNotContain(a.TagObjects, t => t.Value is "m")); // the secret's one byte, as text
    }
}
