using System.Reflection;
using Akka.Configuration;

namespace ActorVault.Hosting.Tests;

/// <summary>VaultClientOptions.ToHocon, the one option→HOCON writer (WithActorVault prepends it): the reference config's keys, only what is set.</summary>
public sealed class ActorVaultHoconSpecs
{
    /// <summary>Options that are code, not configuration (loggers, callbacks, process-level switches).</summary>
    private static readonly string[] NotHocon = [nameof(VaultClientOptions.Logger), nameof(VaultClientOptions.VaultLog), nameof(VaultClientOptions.HandleSignals), nameof(VaultClientOptions.DisableLogRedaction), nameof(VaultClientOptions.MeterFactory), nameof(VaultClientOptions.LoggerFactory)];

    [Fact]
    public void From_EveryOptionSet_EachKeyExistsInTheReferenceConfig_OneKeyPerOption()
    {
        var options = new VaultClientOptions();
        PropertyInfo[] settable = typeof(VaultClientOptions).GetProperties().Where(p => p.CanWrite && !NotHocon.Contains(p.Name)).ToArray();
        foreach (PropertyInfo p in settable)
        {
            Type type = Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType;
            object value = type == typeof(string) ? "/opt/actorvault/actorvault"
                : type == typeof(TimeSpan) ? TimeSpan.FromSeconds(3)
                : type == typeof(int) ? (object)4096
                : type == typeof(double) ? (object)0.5
                : type == typeof(bool) ? (object)true
                : throw new InvalidOperationException($"VaultClientOptions.{p.Name} ({type.Name}) is new: map it in VaultClientOptions.ToHocon or list it in NotHocon");
            p.SetValue(options, value);
        }

        Config written = ConfigurationFactory.ParseString(options.ToHocon());
        Config reference = ReferenceLinkConfig();
        string[] keys = Leaves(written.Root, "").ToArray();

        Assert.Equal(settable.Length, keys.Length);
        Assert.All(keys, key => Assert.True(reference.HasPath(key), $"{key} is not a key of hocon/actorvault-link.conf"));
        Assert.Equal("/opt/actorvault/actorvault", written.GetString("actorvault.supervisor.executable"));
        Assert.Equal(TimeSpan.FromSeconds(3), written.GetTimeSpan("actorvault.lease.default-ttl"));
        Assert.Equal(0.5, written.GetDouble("actorvault.supervisor.restart.random-factor"));
        Assert.True(written.GetBoolean("actorvault.supervisor.harden-process"));
    }

    [Fact]
    public void From_NothingSet_Empty()
    {
        Assert.Equal(string.Empty, new VaultClientOptions().ToHocon());
        Assert.Equal(string.Empty, new VaultClientOptions { HandleSignals = false, Logger = null }.ToHocon());
    }

    [Fact]
    public void From_PathWithQuotesAndBackslashes_RoundTrips()
    {
        const string path = "/tmp/a \"quoted\" dir\\actorvault";
        Config written = ConfigurationFactory.ParseString(new VaultClientOptions { ExecutablePath = path }.ToHocon());
        Assert.Equal(path, written.GetString("actorvault.supervisor.executable"));
    }

    private static IEnumerable<string> Leaves(Akka.Configuration.Hocon.HoconValue value, string path) =>
        value.IsObject()
            ? value.GetObject().Items.SelectMany(kv => Leaves(kv.Value, path.Length == 0 ? kv.Key : $"{path}.{kv.Key}"))
            : [path];

    private static Config ReferenceLinkConfig()
    {
        using Stream stream = typeof(VaultClient).Assembly.GetManifestResourceStream("ActorVault.hocon.actorvault-link.conf")
            ?? throw new InvalidOperationException("ActorVault.hocon.actorvault-link.conf is not embedded in ActorVault.dll");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }
}
