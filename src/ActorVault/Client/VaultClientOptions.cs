using System.Globalization;
using System.Text;
using Akka.Configuration;

namespace ActorVault;

/// <summary>
/// Options of <see cref="VaultClient"/>. Every property is nullable: null keeps the reference default
/// from <c>hocon/actorvault-link.conf</c> (shown in each property's summary).
/// </summary>
public sealed class VaultClientOptions
{
    /// <summary>Path of the <c>actorvault</c> executable (or <c>ActorVault.Host.dll</c>). Default: found next to the application.</summary>
    public string? ExecutablePath { get; set; }

    /// <summary>How long the child may take to print READY and authenticate. Default 30 s.</summary>
    public TimeSpan? StartupTimeout { get; set; }

    /// <summary>Timeout of an ordinary request. Default 30 s.</summary>
    public TimeSpan? RequestTimeout { get; set; }

    /// <summary>Timeout of a request that waits for a person (terminal prompts). Default 10 min.</summary>
    public TimeSpan? InteractiveTimeout { get; set; }

    /// <summary>Interval of the supervisor's authenticated heartbeat. Default 200 ms.</summary>
    public TimeSpan? HeartbeatInterval { get; set; }

    /// <summary>A live vault that answers no heartbeat for this long is killed and restarted. Default 10 s.</summary>
    public TimeSpan? UnresponsiveAfter { get; set; }

    /// <summary>First restart delay. Default 200 ms.</summary>
    public TimeSpan? MinBackoff { get; set; }

    /// <summary>Longest restart delay. Default 10 s.</summary>
    public TimeSpan? MaxBackoff { get; set; }

    /// <summary>Random jitter added to each delay, as a fraction. Default 0.2.</summary>
    public double? RandomFactor { get; set; }

    /// <summary>Restarts allowed within <see cref="MaxRestartsWithin"/>; beyond that the vault stays stopped. Default 10.</summary>
    public int? MaxRestarts { get; set; }

    /// <summary>Window for <see cref="MaxRestarts"/>. Default 60 s.</summary>
    public TimeSpan? MaxRestartsWithin { get; set; }

    /// <summary>How long a stopping vault gets: stdin closed at once, SIGTERM at half, SIGKILL at the end. Default 5 s.</summary>
    public TimeSpan? StopGrace { get; set; }

    /// <summary>RSA key size in the vault: 2048, 3072 or 4096. Default 2048.</summary>
    public int? RsaBits { get; set; }

    /// <summary>OpenSSL secure heap size in the vault, a power of two. Default 32 KiB.</summary>
    public int? SecureHeapBytes { get; set; }

    /// <summary>Deadline of a lease when <see cref="LeaseOptions.Ttl"/> is not given. Default 30 s.</summary>
    public TimeSpan? DefaultLeaseTtl { get; set; }

    /// <summary>Leases this application may hold at once. Default 64.</summary>
    public int? MaxConcurrentLeases { get; set; }

    /// <summary>How long a lease waits for capacity by default; zero fails fast. Default 5 s.</summary>
    public TimeSpan? LeaseCapacityWait { get; set; }

    /// <summary>
    /// A Microsoft.Extensions.Logging logger for the vault's log, state changes and the lease audit
    /// trail; ActorVault wraps it in a <see cref="Logging.RedactingLogger"/>. Default: none.
    /// </summary>
    public Microsoft.Extensions.Logging.ILogger? Logger { get; set; }

    /// <summary>
    /// A logger factory (used when <see cref="Logger"/> is not set): one category per component —
    /// <c>ActorVault.Supervisor</c> (state changes, shutdown, hardening), <c>ActorVault.Vault</c> (the
    /// vault's own lines as structured events at their real level; Akka's chatter at Debug) and
    /// <c>ActorVault.Audit</c> (the lease audit trail, structured). ActorVault.Hosting passes the
    /// application's (DI) factory. Every logger is wrapped in a <see cref="Logging.RedactingLogger"/>.
    /// </summary>
    public Microsoft.Extensions.Logging.ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>
    /// On SIGTERM, SIGINT, SIGHUP and SIGQUIT: revoke leases, stop the vault, zero, then exit the
    /// process with 128 + signal (Akka alone would run CoordinatedShutdown but leave the process
    /// running after SIGTERM/SIGINT, and SIGHUP/SIGQUIT would kill it with no cleanup). Default true.
    /// </summary>
    public bool? HandleSignals { get; set; }

    /// <summary>
    /// Harden this application process when the client starts: <c>PR_SET_DUMPABLE 0</c> (other processes
    /// of the same user can no longer ptrace it, read <c>/proc/PID/mem</c> or open <c>/proc/PID/fd/*</c>)
    /// and <c>RLIMIT_CORE 0</c> (no core files). A loud warning is logged when the .NET diagnostic port is
    /// open (start the application with <c>DOTNET_EnableDiagnostics=0</c>: only the environment before the
    /// runtime starts can close it). Default true; set false only for development, to attach a debugger.
    /// </summary>
    public bool? HardenProcess { get; set; }

    /// <summary>Development only: print sealed payloads (ciphertext) in logs. Secret bytes are never printed. Default false.</summary>
    public bool? DisableLogRedaction { get; set; }

    /// <summary>
    /// The meter factory for ActorVault's instruments (see <see cref="VaultMetrics"/>); ActorVault.Hosting
    /// passes the application's (DI) factory. Default: a shared meter of the same name.
    /// </summary>
    public System.Diagnostics.Metrics.IMeterFactory? MeterFactory { get; set; }

    /// <summary>Receives each line the vault writes to stderr (its log). Default: the link system's log at Info.</summary>
    public Action<string>? VaultLog { get; set; }

    /// <summary>Each configuration option, its key under <c>actorvault.</c> (hocon/actorvault-link.conf), and its value.</summary>
    private static readonly (string Option, string Key, Func<VaultClientOptions, object?> Value)[] Keys =
    [
        (nameof(ExecutablePath), "supervisor.executable", o => o.ExecutablePath),
        (nameof(StartupTimeout), "supervisor.startup-timeout", o => o.StartupTimeout),
        (nameof(RequestTimeout), "supervisor.request-timeout", o => o.RequestTimeout),
        (nameof(InteractiveTimeout), "supervisor.interactive-timeout", o => o.InteractiveTimeout),
        (nameof(HeartbeatInterval), "supervisor.heartbeat-interval", o => o.HeartbeatInterval),
        (nameof(UnresponsiveAfter), "supervisor.unresponsive-after", o => o.UnresponsiveAfter),
        (nameof(MinBackoff), "supervisor.restart.min-backoff", o => o.MinBackoff),
        (nameof(MaxBackoff), "supervisor.restart.max-backoff", o => o.MaxBackoff),
        (nameof(RandomFactor), "supervisor.restart.random-factor", o => o.RandomFactor),
        (nameof(MaxRestarts), "supervisor.restart.max-restarts", o => o.MaxRestarts),
        (nameof(MaxRestartsWithin), "supervisor.restart.max-restarts-within", o => o.MaxRestartsWithin),
        (nameof(RsaBits), "supervisor.rsa-bits", o => o.RsaBits),
        (nameof(StopGrace), "supervisor.stop-grace", o => o.StopGrace),
        (nameof(SecureHeapBytes), "supervisor.secure-heap-bytes", o => o.SecureHeapBytes),
        (nameof(HardenProcess), "supervisor.harden-process", o => o.HardenProcess),
        (nameof(DefaultLeaseTtl), "lease.default-ttl", o => o.DefaultLeaseTtl),
        (nameof(MaxConcurrentLeases), "lease.max-concurrent", o => o.MaxConcurrentLeases),
        (nameof(LeaseCapacityWait), "lease.capacity-wait", o => o.LeaseCapacityWait),
    ];

    /// <summary>
    /// Checks the options as the vault would at start, and says what is wrong in the options' own
    /// names (<c>VaultClientOptions.RsaBits must be 2048, 3072 or 4096, not 1000</c>); empty when valid.
    /// Used by <c>ValidateOnStart</c> in ActorVault.Hosting; <see cref="VaultClient.StartAsync(VaultClientOptions?, CancellationToken)"/> checks the same.
    /// </summary>
    public IReadOnlyList<string> Validate()
    {
        try
        {
            Config config = Configuration.ActorVaultConfig.ForLink(ToConfig());
            _ = Client.SupervisorSettings.Create(config);
            _ = Client.LeaseDefaults.Create(config);
            return [];
        }
        catch (ConfigurationException e)
        {
            return [InOptionNames(e.Message)];
        }
    }

    /// <summary>A settings message in the options' names: <c>actorvault.supervisor.rsa-bits</c> → <c>VaultClientOptions.RsaBits (actorvault.supervisor.rsa-bits)</c>.</summary>
    internal static string InOptionNames(string message)
    {
        // Longest keys first, so that "restart.max-restarts-within" is not read as "restart.max-restarts".
        foreach ((string option, string key, _) in Keys.OrderByDescending(k => k.Key.Length))
        {
            message = message.Replace($"actorvault.{key} ", $"VaultClientOptions.{option} (actorvault.{key}) ", StringComparison.Ordinal);
        }

        return message;
    }

    /// <summary>
    /// The one writer of options as HOCON: the options that are set, under the keys of
    /// <c>hocon/actorvault-link.conf</c> (empty when none is). Used for the link system's settings and
    /// by Akka.Hosting's <c>WithActorVault</c>, which prepends it to the application's HOCON.
    /// </summary>
    internal string ToHocon()
    {
        var hocon = new StringBuilder();
        foreach ((_, string key, Func<VaultClientOptions, object?> value) in Keys)
        {
            if (value(this) is { } set)
            {
                hocon.Append(CultureInfo.InvariantCulture, $"actorvault.{key} = {Format(set)}\n");
            }
        }

        return hocon.ToString();
    }

    internal Config ToConfig() => ConfigurationFactory.ParseString(ToHocon());

    private static string Format(object value) => value switch
    {
        string s => $"\"{s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)}\"",
        bool b => b ? "on" : "off",
        TimeSpan t => string.Create(CultureInfo.InvariantCulture, $"{(long)t.TotalMilliseconds}ms"),
        double d => d.ToString(CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString()!,
    };
}
