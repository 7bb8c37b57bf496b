using Akka.Configuration;
using ActorVault.Configuration;

namespace ActorVault.Tests;

/// <summary>Actor systems for specs: ActorVault's real reference config, but local (no sockets).</summary>
internal static class SpecConfig
{
    public static Config Client => ConfigurationFactory.ParseString("akka.actor.provider = local\nakka.loglevel = WARNING").WithFallback(ActorVaultConfig.Link);

    /// <summary>Remote specs (real transport): warnings and up, to the console logger.</summary>
    public static Config Quiet => ConfigurationFactory.ParseString("akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING\nakka.loggers = [\"Akka.Event.DefaultLogger\"]");

    public static Config Vault => ConfigurationFactory.ParseString("akka.actor.provider = local\nakka.loglevel = WARNING\nakka.loggers = [\"Akka.Event.DefaultLogger\"]").WithFallback(ActorVaultConfig.Vault);
}

/// <summary>Specs that count live secret buffers must not run beside others.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SecretCountingCollection
{
    public const string Name = "secret counting";
}
