using Akka.Configuration;

namespace ActorVault.Client;

/// <summary>The supervisor's settings, from <c>actorvault.supervisor</c> (reference: hocon/actorvault-link.conf).</summary>
internal sealed record SupervisorSettings(
    string Executable,
    TimeSpan StartupTimeout,
    TimeSpan RequestTimeout,
    TimeSpan InteractiveTimeout,
    TimeSpan HeartbeatInterval,
    TimeSpan UnresponsiveAfter,
    TimeSpan MinBackoff,
    TimeSpan MaxBackoff,
    double RandomFactor,
    int MaxRestarts,
    TimeSpan MaxRestartsWithin,
    int MaxPendingRequests,
    int RsaBits,
    int SecureHeapBytes)
{
    /// <summary>How long a stopping vault gets: stdin closed at once, SIGTERM at half, SIGKILL at the end.</summary>
    public TimeSpan StopGrace { get; init; }

    /// <summary>Harden the application process at start (<c>harden-process</c>).</summary>
    public bool HardenProcess { get; init; }

    /// <summary>The application's instruments (its meter factory's, or the shared meter), set by the client at start.</summary>
    public LeaseInstruments? Instruments { get; init; }

    /// <summary>The link system's socket registry: each vault child's proven link socket is registered there (set by the client at start).</summary>
    public Transport.LinkSockets? Sockets { get; init; }

    public static SupervisorSettings Create(Config config)
    {
        var c = new Configuration.Settings(config, "actorvault.supervisor");
        var settings = new SupervisorSettings(
            c.String("executable"),
            c.Time("startup-timeout"),
            c.Time("request-timeout"),
            c.Time("interactive-timeout"),
            c.Time("heartbeat-interval"),
            c.Time("unresponsive-after"),
            c.Time("restart.min-backoff"),
            c.Time("restart.max-backoff"),
            c.Double("restart.random-factor"),
            c.Int("restart.max-restarts"),
            c.Time("restart.max-restarts-within"),
            c.Int("max-pending-requests"),
            c.Int("rsa-bits"),
            c.Int("secure-heap-bytes"))
        {
            StopGrace = c.Time("stop-grace"),
            HardenProcess = c.Bool("harden-process"),
        };
        settings.Validate();
        return settings;
    }

    private void Validate()
    {
        static void Positive(TimeSpan t, string name)
        {
            if (t <= TimeSpan.Zero)
            {
                throw new ConfigurationException($"actorvault.supervisor.{name} must be positive, not {t}.");
            }
        }

        Positive(StartupTimeout, "startup-timeout");
        Positive(RequestTimeout, "request-timeout");
        Positive(InteractiveTimeout, "interactive-timeout");
        Positive(HeartbeatInterval, "heartbeat-interval");
        Positive(UnresponsiveAfter, "unresponsive-after");
        Positive(MinBackoff, "restart.min-backoff");
        Positive(MaxRestartsWithin, "restart.max-restarts-within");
        Positive(StopGrace, "stop-grace");
        if (MaxBackoff < MinBackoff)
        {
            throw new ConfigurationException("actorvault.supervisor.restart.max-backoff must be at least min-backoff.");
        }

        if (RandomFactor is < 0 or > 1)
        {
            throw new ConfigurationException($"actorvault.supervisor.restart.random-factor must be within 0..1, not {RandomFactor}.");
        }

        if (MaxRestarts < 0 || MaxPendingRequests < 1)
        {
            throw new ConfigurationException("actorvault.supervisor.restart.max-restarts must be ≥ 0 and max-pending-requests ≥ 1.");
        }

        if (RsaBits is not (2048 or 3072 or 4096))
        {
            throw new ConfigurationException($"actorvault.supervisor.rsa-bits must be 2048, 3072 or 4096, not {RsaBits}.");
        }

        if (SecureHeapBytes < 4096 || (SecureHeapBytes & (SecureHeapBytes - 1)) != 0)
        {
            throw new ConfigurationException($"actorvault.supervisor.secure-heap-bytes must be a power of two ≥ 4096, not {SecureHeapBytes}.");
        }
    }

    /// <summary>Exponential backoff with jitter for the n-th restart (n ≥ 1).</summary>
    public TimeSpan Backoff(int restart, double random)
    {
        double factor = Math.Pow(2, Math.Min(restart - 1, 30));
        double ms = Math.Min(MaxBackoff.TotalMilliseconds, MinBackoff.TotalMilliseconds * factor);
        return TimeSpan.FromMilliseconds(ms * (1 + (RandomFactor * random)));
    }
}
