using System.Globalization;
using Akka.Actor;
using Akka.Configuration;
using ActorVault.Agent;

namespace ActorVault.Standalone;

/// <summary>Settings of the standalone host (<c>actorvault.host</c> in <c>hocon/actorvault-host.conf</c>; no defaults in code).</summary>
internal sealed record HostSettings(int MaxConnections, TimeSpan LeaseTtl, TimeSpan MaxLeaseTtl)
{
    public static HostSettings From(Config config)
    {
        var settings = new HostSettings(
            config.GetInt("actorvault.host.max-connections"),
            config.GetTimeSpan("actorvault.host.lease-ttl"),
            config.GetTimeSpan("actorvault.host.max-lease-ttl"));
        if (settings.MaxConnections is < 1 or > 4096)
        {
            throw new ConfigurationException($"actorvault.host.max-connections must be 1..4096, not {settings.MaxConnections}.");
        }

        if (settings.MaxLeaseTtl <= TimeSpan.Zero || settings.LeaseTtl <= TimeSpan.Zero || settings.LeaseTtl > settings.MaxLeaseTtl)
        {
            throw new ConfigurationException($"actorvault.host.lease-ttl ({settings.LeaseTtl}) must be positive and at most actorvault.host.max-lease-ttl ({settings.MaxLeaseTtl}).");
        }

        return settings;
    }
}

/// <summary>What every connection of the standalone host shares: the vault, the settings, the event line and the counters.</summary>
internal sealed class HostContext
{
    private readonly Action<string> _events;
    private readonly Action<string>? _audit;
    private readonly DateTimeOffset _started = DateTimeOffset.UtcNow;
    private long _granted;
    private long _refusals;

    public HostContext(VaultClient vault, HostSettings settings, string secretName, string socketPath, Action stop, Action<string> events, Action<string>? audit)
    {
        Vault = vault;
        Settings = settings;
        SecretName = secretName;
        SocketPath = socketPath;
        Stop = stop;
        _events = events;
        _audit = audit;
    }

    public VaultClient Vault { get; }

    public HostSettings Settings { get; }

    public string SecretName { get; }

    public string SocketPath { get; }

    /// <summary>Stops the host (after the current reply has left).</summary>
    public Action Stop { get; }

    public IActorRef Agent { get; set; } = ActorRefs.Nobody;

    /// <summary>The owner of lifetimes and idle locks (<see cref="SecretLifetimes"/>).</summary>
    public IActorRef Lifetimes { get; set; } = ActorRefs.Nobody;

    /// <summary>When each secret with a lifetime or an idle lock will be locked.</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, DateTimeOffset> LockTimes { get; } = new(StringComparer.Ordinal);

    public int Connections { get; set; }

    public long Granted() => Interlocked.Increment(ref _granted);

    /// <summary>One line a person reads (started, unlocked, locked, exec, stop).</summary>
    public void Event(string line) => _events(line);

    /// <summary>Per-lease audit lines: only with --verbose.</summary>
    public void Audit(string line) => _audit?.Invoke(line);

    /// <summary>A refused or broken client: the first ten, then every thousandth, so no client can flood the log.</summary>
    public void Refusal(string line)
    {
        long n = Interlocked.Increment(ref _refusals);
        if (n <= 10 || n % 1000 == 0)
        {
            _events(string.Create(CultureInfo.InvariantCulture, $"{line} ({n} refused or closed so far)"));
        }
    }

    public async Task<string> StatusAsync(int clientLeases)
    {
        VaultStatus status = await Vault.GetStatusAsync().ConfigureAwait(false);
        TimeSpan up = DateTimeOffset.UtcNow - _started;
        Memory.HardeningStatus host = Memory.ProcessHardening.Status();
        return AgentProtocol.FormatStatus(
        [
            Field("host-pid", Environment.ProcessId),
            Field("vault-pid", status.VaultPid),
            new("state", status.State.ToString()),
            Field("uptime-ms", (long)up.TotalMilliseconds),
            Field("restarts", status.Restarts),
            new("secrets", string.Join(',', status.Secrets)),
            new("expected", SecretName),
            Field("live-leases", Vault.LiveLeases),
            Field("client-leases", clientLeases),
            Field("leases-granted", Interlocked.Read(ref _granted)),
            Field("connections", Connections),
            new("backing", status.Backing),
            Field("locked-bytes", status.LockedBytes),
            Field("live-buffers", status.LiveBuffers),
            new("vault-hardened", status.Hardened ? "yes" : "no"),
            new("host-hardened", host is { IsHardened: true, DiagnosticsDisabled: true } ? "yes" : "no"),
            Field("secure-heap-used", status.SecureHeapUsedBytes),
            Field("secure-heap-size", status.SecureHeapSizeBytes),
            Field("key-bits", status.KeyBits),
            new("socket", SocketPath),
            new("locks", string.Join(',', LockTimes.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Key}@{p.Value.ToUnixTimeMilliseconds()}")))),
        ]);
    }

    private static KeyValuePair<string, string> Field(string key, long value) => new(key, value.ToString(CultureInfo.InvariantCulture));
}
