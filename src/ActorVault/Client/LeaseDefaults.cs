using Akka.Configuration;

namespace ActorVault.Client;

/// <summary>Lease defaults of this application, from <c>actorvault.lease</c>.</summary>
internal sealed record LeaseDefaults(TimeSpan DefaultTtl, int MaxConcurrent, TimeSpan CapacityWait)
{
    public static LeaseDefaults Create(Config config)
    {
        var c = new Configuration.Settings(config, "actorvault.lease");
        var defaults = new LeaseDefaults(c.Time("default-ttl"), c.Int("max-concurrent"), c.Time("capacity-wait"));
        if (defaults.DefaultTtl <= TimeSpan.Zero)
        {
            throw new ConfigurationException($"actorvault.lease.default-ttl must be positive, not {defaults.DefaultTtl}.");
        }

        if (defaults.MaxConcurrent < 1)
        {
            throw new ConfigurationException($"actorvault.lease.max-concurrent must be at least 1, not {defaults.MaxConcurrent}.");
        }

        if (defaults.CapacityWait < TimeSpan.Zero)
        {
            throw new ConfigurationException($"actorvault.lease.capacity-wait must be zero or more, not {defaults.CapacityWait}.");
        }

        return defaults;
    }
}
