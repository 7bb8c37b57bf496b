using System.Diagnostics;

namespace ActorVault.Client;

/// <summary>How a vault grants a lease, hears of its release, and audits (the real vault and the test vault differ only here).</summary>
internal sealed record LeaseHooks(
    Func<string, TimeSpan, CancellationToken, Task<SecretLease>> Acquire,
    Action<SecretLease, TimeSpan, string> Released,
    Action<LeaseAuditKind, Guid, string, TimeSpan, string> Audit)
{
    /// <summary>Where the lease metrics go (the application's meter factory, or the shared meter).</summary>
    public LeaseInstruments Instruments { get; init; } = VaultMetrics.Shared;
}

/// <summary>
/// The application side of one lease, shared by <see cref="VaultClient"/> and the TestKit's test vault:
/// wait for capacity (or fail fast), acquire, arm the deadline (which zeroes the bytes even while the
/// callback runs), run the callback, and on every ending zero, release and audit.
/// </summary>
internal static class LeaseRunner
{
    public static async Task<T> RunAsync<T>(
        string name,
        Func<SecretLease, ValueTask<T>> callback,
        TimeSpan ttl,
        TimeSpan capacityWait,
        int maxConcurrent,
        SemaphoreSlim capacity,
        ClientSecretTracker tracker,
        LeaseHooks hooks,
        CancellationToken cancellationToken)
    {
        // One span per lease: its name, id and outcome — never a byte.
        using Activity? span = VaultMetrics.Source.StartActivity("actorvault.lease");
        span?.SetTag(LeaseInstruments.SecretName, name);
        if (!await capacity.WaitAsync(capacityWait, cancellationToken).ConfigureAwait(false))
        {
            hooks.Audit(LeaseAuditKind.Refused, Guid.Empty, name, TimeSpan.Zero, "capacity");
            var full = new LeaseCapacityException($"This application already holds {maxConcurrent} leases (the maximum) and none ended within {capacityWait.TotalMilliseconds:0} ms.");
            hooks.Instruments.Refused(name, full);
            span?.SetTag(LeaseInstruments.Outcome, "refused").SetStatus(ActivityStatusCode.Error, full.GetType().Name);
            throw full;
        }

        SecretLease? lease = null;
        string outcome = "returned";
        try
        {
            try
            {
                lease = await hooks.Acquire(name, ttl, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is VaultOperationException or SecretUnavailableException or LeaseCapacityException)
            {
                hooks.Instruments.Refused(name, e);
                span?.SetTag(LeaseInstruments.Outcome, "refused").SetStatus(ActivityStatusCode.Error, e.GetType().Name);
                throw;
            }

            hooks.Instruments.Granted(name);
            span?.SetTag("actorvault.lease.id", lease.Id.ToString());
            // The lease's own deadline (what the vault granted; a standalone host may cap the request), on
            // the deadline thread, which needs no thread-pool thread to zero the bytes.
            lease.ArmDeadline();
            // The caller's token ends the lease at once (bytes zeroed), like a revoke.
            using CancellationTokenRegistration onCancel = cancellationToken.Register(static state => ((SecretLease)state!).End(LeaseEnd.Cancelled, "the caller's cancellation token fired"), lease);
            T result;
            try
            {
                result = await callback(lease).ConfigureAwait(false);
            }
            catch (Exception e) when (!lease.IsLive)
            {
                // Whatever the callback threw (often an OperationCanceledException from lease.Ended),
                // the cause is the lease's end.
                outcome = $"ended while the callback ran ({lease.EndReason})";
                throw lease.EndedException(e);
            }
            catch (Exception e)
            {
                outcome = e is OperationCanceledException ? "cancelled" : $"threw {e.GetType().Name}";
                throw;
            }

            if (!lease.IsLive)
            {
                // A value computed from bytes that were zeroed under it is never returned.
                outcome = $"ended before the callback returned ({lease.EndReason})";
                throw lease.EndedException(null);
            }

            return result;
        }
        finally
        {
            if (lease is not null)
            {
                bool endedEarly = !lease.IsLive;
                LeaseEnd how = endedEarly ? lease.EndReason : LeaseEnd.Released;
                string cause = endedEarly ? $"{lease.EndReasonText}; {outcome}" : outcome;
                lease.Close();
                tracker.Untrack(lease);
                TimeSpan held = lease.Held;
                hooks.Released(lease, held, outcome);
                hooks.Instruments.Ended(name, how, held);
                span?.SetTag(LeaseInstruments.Outcome, LeaseInstruments.OutcomeOf(how));
                if (how != LeaseEnd.Released)
                {
                    span?.SetStatus(ActivityStatusCode.Error, cause);
                }
                // The one audit event of this lease's end, whoever ended it (the callback, the deadline,
                // a revoke, a lock, the vault's loss, the caller's token): name, time held, cause.
                hooks.Audit(AuditKind(how), lease.Id, name, held, cause);
            }

            capacity.Release();
        }
    }

    private static LeaseAuditKind AuditKind(LeaseEnd end) => end switch
    {
        LeaseEnd.Released => LeaseAuditKind.Released,
        LeaseEnd.Expired => LeaseAuditKind.Expired,
        _ => LeaseAuditKind.Revoked,
    };
}
