using Akka.Configuration;

namespace ActorVault.Vault;

/// <summary>The vault side's settings, read from <c>actorvault.*</c> (reference: hocon/actorvault-vault.conf).</summary>
internal sealed record VaultSettings(int RsaBits, int MaxSecretBytes, int MaxSecrets)
{
    /// <summary>Lease caps and the longest deadline the vault grants.</summary>
    public required LeaseSettings Leases { get; init; }

    public static readonly int[] SupportedRsaBits = [2048, 3072, 4096];

    public static VaultSettings Create(Config config)
    {
        var c = new Configuration.Settings(config, "actorvault");
        var settings = new VaultSettings(c.Int("keystore.rsa-bits"), c.Int("secrets.max-bytes"), c.Int("secrets.max-count"))
        {
            Leases = new LeaseSettings(c.Int("lease.max-live"), c.Time("lease.max-ttl")),
        };
        settings.Validate();
        return settings;
    }

    public void Validate()
    {
        if (!SupportedRsaBits.Contains(RsaBits))
        {
            throw new ConfigurationException($"actorvault.keystore.rsa-bits must be 2048, 3072 or 4096, not {RsaBits}.");
        }

        if (MaxSecretBytes is < 1 or > 65536)
        {
            throw new ConfigurationException($"actorvault.secrets.max-bytes must be 1..65536, not {MaxSecretBytes}.");
        }

        if (Leases.MaxPerSession < 1 || Leases.MaxTtl <= TimeSpan.Zero)
        {
            throw new ConfigurationException("actorvault.lease.max-live must be ≥ 1 and actorvault.lease.max-ttl positive.");
        }

        if (MaxSecrets is < 1 or > 4096)
        {
            throw new ConfigurationException($"actorvault.secrets.max-count must be 1..4096, not {MaxSecrets}.");
        }
    }
}
