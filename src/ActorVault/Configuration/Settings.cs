using Akka.Configuration;

namespace ActorVault.Configuration;

/// <summary>
/// Reads one section of ActorVault's settings with no fallback in code: every default is in
/// <c>hocon/*.conf</c>, which is always below the application's values, so a missing key means the
/// reference configuration was not loaded — a broken build, said as such, never a silent literal.
/// </summary>
internal readonly struct Settings(Config config, string path)
{
    private readonly Config _config = config;

    public string Path { get; } = path;

    public TimeSpan Time(string key) => _config.GetTimeSpan(Key(key), allowInfinite: false);

    public int Int(string key) => _config.GetInt(Key(key));

    public double Double(string key) => _config.GetDouble(Key(key));

    public bool Bool(string key) => _config.GetBoolean(Key(key));

    public string String(string key) => _config.GetString(Key(key));

    /// <summary>The full key (<c>path.key</c>), for messages.</summary>
    public string Name(string key) => $"{Path}.{key}";

    private string Key(string key)
    {
        string full = Name(key);
        return _config.HasPath(full) ? full : throw Missing(key);
    }

    private ConfigurationException Missing(string key) =>
        new($"{Name(key)} is missing: ActorVault's reference configuration (hocon/*.conf) was not loaded below this config.");
}
