using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace ActorVault;

/// <summary>
/// The names under which ActorVault reports, for OpenTelemetry (<c>.AddMeter(VaultMetrics.MeterName)</c>,
/// <c>.AddSource(VaultMetrics.ActivitySourceName)</c>) and dotnet-counters. Instruments, following the
/// OpenTelemetry conventions (durations in seconds, outcomes as attributes, namespaced attributes):
/// <list type="bullet">
/// <item><c>actorvault.lease.duration</c> (histogram, s): how long each granted lease was held, exactly
/// once per lease, with <c>actorvault.lease.outcome</c> = <c>released</c>, <c>expired</c>, <c>revoked</c>,
/// <c>vault_lost</c> or <c>cancelled</c>.</item>
/// <item><c>actorvault.lease.requests</c> (counter, {lease}): with <c>actorvault.lease.outcome</c> =
/// <c>granted</c> or <c>refused</c>, and <c>error.type</c> (the exception's type name) when refused.</item>
/// <item><c>actorvault.lease.active</c> (up-down counter, {lease}): leases live now.</item>
/// <item><c>actorvault.vault.restarts</c> (counter, {restart}): vault child restarts.</item>
/// </list>
/// Lease instruments carry <c>actorvault.secret.name</c>. A span per lease (<c>actorvault.lease</c>, on the
/// activity source) carries the name, the lease id and the outcome. Names, ids, counts — never a byte.
/// The meter comes from the <see cref="IMeterFactory"/> given (DI's, through ActorVault.Hosting), else
/// a shared one.
/// </summary>
public static class VaultMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "ActorVault";

    /// <summary>The activity source's name (one span per lease).</summary>
    public const string ActivitySourceName = "ActorVault";

    internal static readonly ActivitySource Source = new(ActivitySourceName, typeof(VaultMetrics).Assembly.GetName().Version?.ToString());

    internal static LeaseInstruments Shared { get; } = new(null);
}

/// <summary>ActorVault's instruments on one meter (see <see cref="VaultMetrics"/>).</summary>
internal sealed class LeaseInstruments
{
    public const string SecretName = "actorvault.secret.name";
    public const string Outcome = "actorvault.lease.outcome";

    private readonly Histogram<double> _duration;
    private readonly Counter<long> _requests;
    private readonly UpDownCounter<long> _active;
    private readonly Counter<long> _restarts;

    public LeaseInstruments(IMeterFactory? factory)
    {
        var options = new MeterOptions(VaultMetrics.MeterName) { Version = typeof(VaultMetrics).Assembly.GetName().Version?.ToString() };
        Meter meter = factory?.Create(options) ?? new Meter(options);
        _duration = meter.CreateHistogram<double>("actorvault.lease.duration", "s", "How long a lease held the secret, by how it ended.");
        _requests = meter.CreateCounter<long>("actorvault.lease.requests", "{lease}", "Lease requests, granted or refused.");
        _active = meter.CreateUpDownCounter<long>("actorvault.lease.active", "{lease}", "Leases live now.");
        _restarts = meter.CreateCounter<long>("actorvault.vault.restarts", "{restart}", "Vault child restarts.");
    }

    public void Refused(string secret, Exception cause) =>
        _requests.Add(1, new(SecretName, secret), new(Outcome, "refused"), new("error.type", cause.GetType().Name));

    public void Granted(string secret)
    {
        _requests.Add(1, new(SecretName, secret), new(Outcome, "granted"));
        _active.Add(1, new KeyValuePair<string, object?>(SecretName, secret));
    }

    /// <summary>Exactly once per granted lease, however it ended.</summary>
    public void Ended(string secret, LeaseEnd how, TimeSpan held)
    {
        _active.Add(-1, new KeyValuePair<string, object?>(SecretName, secret));
        _duration.Record(held.TotalSeconds, new(SecretName, secret), new(Outcome, OutcomeOf(how)));
    }

    public void Restarted() => _restarts.Add(1);

    public static string OutcomeOf(LeaseEnd how) => how switch
    {
        LeaseEnd.Released => "released",
        LeaseEnd.Expired => "expired",
        LeaseEnd.Revoked => "revoked",
        LeaseEnd.VaultLost => "vault_lost",
        _ => "cancelled",
    };
}
