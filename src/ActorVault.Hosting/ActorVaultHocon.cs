using System.Globalization;
using System.Text;

namespace ActorVault.Hosting;

/// <summary>
/// The <c>actorvault { … }</c> section that <c>WithActorVault</c> prepends to the application's HOCON:
/// only the options that are set, under the keys of <c>hocon/actorvault-link.conf</c>, so that
/// <c>system.Settings.Config.GetConfig("actorvault")</c> shows what the vault link runs with.
/// </summary>
internal static class ActorVaultHocon
{
    /// <summary>The HOCON of the options that are set; empty when none is.</summary>
    internal static string From(VaultClientOptions options)
    {
        var hocon = new StringBuilder();
        void Add(string key, object? value)
        {
            if (value is not null)
            {
                hocon.Append(CultureInfo.InvariantCulture, $"actorvault.{key} = {Format(value)}\n");
            }
        }

        Add("supervisor.executable", options.ExecutablePath);
        Add("supervisor.startup-timeout", options.StartupTimeout);
        Add("supervisor.request-timeout", options.RequestTimeout);
        Add("supervisor.interactive-timeout", options.InteractiveTimeout);
        Add("supervisor.heartbeat-interval", options.HeartbeatInterval);
        Add("supervisor.unresponsive-after", options.UnresponsiveAfter);
        Add("supervisor.restart.min-backoff", options.MinBackoff);
        Add("supervisor.restart.max-backoff", options.MaxBackoff);
        Add("supervisor.restart.random-factor", options.RandomFactor);
        Add("supervisor.restart.max-restarts", options.MaxRestarts);
        Add("supervisor.restart.max-restarts-within", options.MaxRestartsWithin);
        Add("supervisor.rsa-bits", options.RsaBits);
        Add("supervisor.stop-grace", options.StopGrace);
        Add("supervisor.secure-heap-bytes", options.SecureHeapBytes);
        Add("supervisor.harden-process", options.HardenProcess);
        Add("lease.default-ttl", options.DefaultLeaseTtl);
        Add("lease.max-concurrent", options.MaxConcurrentLeases);
        Add("lease.capacity-wait", options.LeaseCapacityWait);
        return hocon.ToString();
    }

    private static string Format(object value) => value switch
    {
        string s => "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"",
        TimeSpan t => string.Create(CultureInfo.InvariantCulture, $"{(long)t.TotalMilliseconds}ms"),
        bool b => b ? "on" : "off",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString()!,
    };
}
