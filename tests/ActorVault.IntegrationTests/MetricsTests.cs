using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using ActorVault.TestKit;

namespace ActorVault.IntegrationTests;

/// <summary>Lease metrics on the "ActorVault" meter (what OpenTelemetry or dotnet-counters would read).</summary>
public sealed class MetricsTests
{
    [Fact]
    public async Task Leases_AreCounted_ByHowTheyEnded_AndActiveReturnsToZero()
    {
        string secret = $"metrics-{Guid.NewGuid():N}"[..30];
        var sums = new ConcurrentDictionary<string, double>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == VaultMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                if (tag.Key == "secret" && (string?)tag.Value == secret)
                {
                    sums.AddOrUpdate(instrument.Name, value, (_, v) => v + value);
                }
            }
        }

        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Add(i, v, t));
        listener.SetMeasurementEventCallback<double>((i, v, t, _) => Add(i, v, t));
        listener.Start();

        await using var vault = new TestVault(new TestVaultOptions { MaxConcurrentLeases = 1 });
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

        Assert.Equal(4, sums.GetValueOrDefault("actorvault.leases.granted"));
        Assert.Equal(3, sums.GetValueOrDefault("actorvault.leases.released"));
        Assert.Equal(1, sums.GetValueOrDefault("actorvault.leases.expired"));
        Assert.Equal(1, sums.GetValueOrDefault("actorvault.leases.refused"));
        Assert.Equal(0, sums.GetValueOrDefault("actorvault.leases.active"));
        Assert.True(sums.GetValueOrDefault("actorvault.lease.duration") > 0, "lease durations are recorded");
    }
}
