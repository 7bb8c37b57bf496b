using System.Diagnostics.Metrics;

namespace ActorVault;

/// <summary>
/// ActorVault's metrics (System.Diagnostics.Metrics, meter <c>ActorVault</c>), so that OpenTelemetry
/// (<c>AddMeter("ActorVault")</c>) and dotnet-counters pick them up. Names, ids and counts only.
/// </summary>
public static class VaultMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "ActorVault";

    private static readonly Meter Meter = new(MeterName, typeof(VaultMetrics).Assembly.GetName().Version?.ToString());
    private static readonly Counter<long> Granted = Meter.CreateCounter<long>("actorvault.leases.granted", "{lease}", "Leases granted.");
    private static readonly Counter<long> Released = Meter.CreateCounter<long>("actorvault.leases.released", "{lease}", "Leases released by their callback.");
    private static readonly Counter<long> Expired = Meter.CreateCounter<long>("actorvault.leases.expired", "{lease}", "Leases that reached their deadline.");
    private static readonly Counter<long> Revoked = Meter.CreateCounter<long>("actorvault.leases.revoked", "{lease}", "Leases revoked (one, all, lock, shutdown).");
    private static readonly Counter<long> Refused = Meter.CreateCounter<long>("actorvault.leases.refused", "{lease}", "Leases refused (capacity, locked or unknown secret).");
    private static readonly UpDownCounter<long> Active = Meter.CreateUpDownCounter<long>("actorvault.leases.active", "{lease}", "Leases live now.");
    private static readonly Histogram<double> Duration = Meter.CreateHistogram<double>("actorvault.lease.duration", "ms", "How long a lease's callback held the secret.");
    private static readonly Counter<long> Restarts = Meter.CreateCounter<long>("actorvault.vault.restarts", "{restart}", "Vault child restarts.");

    internal static void LeaseRefused(string secret) => Refused.Add(1, new KeyValuePair<string, object?>("secret", secret));

    internal static void LeaseGranted(string secret)
    {
        var tag = new KeyValuePair<string, object?>("secret", secret);
        Granted.Add(1, tag);
        Active.Add(1, tag);
    }

    /// <summary>Exactly once per granted lease, however it ended.</summary>
    internal static void LeaseEnded(string secret, LeaseEnd how, TimeSpan held)
    {
        var tag = new KeyValuePair<string, object?>("secret", secret);
        Active.Add(-1, tag);
        Duration.Record(held.TotalMilliseconds, tag);
        (how switch
        {
            LeaseEnd.Expired => Expired,
            LeaseEnd.Revoked or LeaseEnd.VaultLost or LeaseEnd.Cancelled => Revoked,
            _ => Released,
        }).Add(1, tag);
    }

    internal static void RecordRestart() => Restarts.Add(1);
}
