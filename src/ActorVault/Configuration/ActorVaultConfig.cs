using System.Reflection;
using Akka.Configuration;

namespace ActorVault.Configuration;

/// <summary>The reference HOCON of both systems, embedded from <c>hocon/</c>.</summary>
internal static class ActorVaultConfig
{
    private static readonly Lazy<Config> Common = new(() => Load("actorvault-common.conf"));

    /// <summary>The vault child's system: vault file over the common file, on the link socket transport.</summary>
    public static Config Vault => ForVault(Config.Empty);

    /// <summary>The application's link system.</summary>
    public static Config Link => ForLink(Config.Empty);

    /// <summary>
    /// The vault's config with <paramref name="overrides"/> above the reference files; the transport
    /// stays on top of everything, so no setting can give the vault a listening address.
    /// </summary>
    public static Config ForVault(Config overrides) =>
        SocketLink.WithFallback(overrides).WithFallback(Load("actorvault-vault.conf")).WithFallback(Common.Value);

    /// <summary>The link system's config; as <see cref="ForVault"/>, the socket transport wins over any override.</summary>
    public static Config ForLink(Config overrides) =>
        SocketLink.WithFallback(overrides).WithFallback(Load("actorvault-link.conf")).WithFallback(Common.Value);

    /// <summary>
    /// Set in code only: the vault link is ActorVault's own transport over one connected Unix socket per
    /// vault (Transport.LinkSocketTransport), and nothing else — no TCP, no listening address.
    /// </summary>
    private static Config SocketLink { get; } = ConfigurationFactory.ParseString(
        """
        akka.remote.enabled-transports = ["akka.remote.actorvault-link"]
        akka.remote.actorvault-link {
          transport-class = "ActorVault.Transport.LinkSocketTransport, ActorVault"
          applied-adapters = []
          transport-protocol = avlink
          maximum-frame-size = 131072b
        }
        # One socket per vault, and it cannot be re-dialled: Akka must never give up on it because a
        # loaded application was late with its heartbeats (that would end the vault and lose its
        # secrets). The kernel tells both sides when the other is gone (socket hang-up, pidfd), and the
        # supervisor's own heartbeat judges a vault that lives but does not answer.
        akka.remote.transport-failure-detector.acceptable-heartbeat-pause = 3600s
        """);

    public static Config Load(string fileName)
    {
        string resource = $"ActorVault.hocon.{fileName}";
        using Stream? stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(resource)
            ?? throw new ConfigurationException($"ActorVault's reference configuration '{resource}' is missing from the assembly; the build is broken.");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }
}
