using System.Globalization;
using Akka.Actor;

namespace ActorVault.Standalone;

/// <summary>
/// How long the host keeps a secret, as <c>ssh-add -t</c> and gpg-agent's cache TTLs do: an absolute
/// lifetime from the moment it is set (<c>serve --lifetime</c>, <c>unlock -t</c>) and an idle time since
/// its last lease (<c>serve --idle-lock</c>). When either passes, the secret is locked in the vault (its
/// bytes zeroed), the clients' leases of it are revoked, and the host prints one line. One actor owns
/// the timers (Akka's scheduler thread, not the thread pool); <see cref="HostContext.LockTimes"/> is what status shows.
/// </summary>
internal sealed class SecretLifetimes : ReceiveActor, IWithTimers
{
    private readonly HostContext _host;
    private readonly TimeSpan? _lifetime;
    private readonly TimeSpan? _idle;
    private readonly Dictionary<string, Entry> _entries = [];
    private long _generation;

    public SecretLifetimes(HostContext host, TimeSpan? lifetime, TimeSpan? idle)
    {
        _host = host;
        _lifetime = lifetime;
        _idle = idle;
        Receive<Set>(OnSet);
        Receive<Used>(OnUsed);
        Receive<Dropped>(d => Forget(d.Name));
        Receive<Due>(OnDue);
        Receive<Locked>(l =>
        {
            _host.Agent.Tell(new RevokeClientLeases(l.Name, $"secret '{l.Name}' locked: {l.Reason}"));
            _host.Event(l.Existed ? $"secret '{l.Name}' locked: {l.Reason}; its bytes are zeroed" : $"secret '{l.Name}' was already locked ({l.Reason})");
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(HostContext host, TimeSpan? lifetime, TimeSpan? idle) =>
        Akka.Actor.Props.Create(() => new SecretLifetimes(host, lifetime, idle));

    private void OnSet(Set set)
    {
        TimeSpan? lifetime = set.Lifetime ?? _lifetime;
        if (lifetime is null && _idle is null)
        {
            Forget(set.Name);
            return;
        }

        DateTimeOffset now = DateTimeOffset.UtcNow;
        var entry = new Entry(++_generation, lifetime is { } l ? now + l : null, now, lifetime);
        _entries[set.Name] = entry;
        Schedule(set.Name, entry);
    }

    private void OnUsed(Used used)
    {
        if (_idle is not null && _entries.TryGetValue(used.Name, out Entry? entry))
        {
            Entry touched = entry with { Generation = ++_generation, LastUse = DateTimeOffset.UtcNow };
            _entries[used.Name] = touched;
            Schedule(used.Name, touched);
        }
    }

    private void Schedule(string name, Entry entry)
    {
        DateTimeOffset due = DueAt(entry);
        _host.LockTimes[name] = due;
        TimeSpan delay = due - DateTimeOffset.UtcNow;
        Timers.StartSingleTimer(name, new Due(name, entry.Generation), delay > TimeSpan.Zero ? delay : TimeSpan.Zero);
    }

    private DateTimeOffset DueAt(Entry entry)
    {
        DateTimeOffset? idle = _idle is { } i ? entry.LastUse + i : null;
        return (entry.Absolute, idle) switch
        {
            ({ } a, { } b) => a < b ? a : b,
            ({ } a, null) => a,
            (null, { } b) => b,
            _ => DateTimeOffset.MaxValue,
        };
    }

    private void OnDue(Due due)
    {
        if (!_entries.TryGetValue(due.Name, out Entry? entry) || entry.Generation != due.Generation)
        {
            return; // set again or used since: a newer timer runs
        }

        string reason = entry.Absolute is { } a && a <= DateTimeOffset.UtcNow
            ? $"its lifetime of {Describe(entry.Lifetime!.Value)} ended"
            : $"idle for {Describe(_idle!.Value)}";
        Forget(due.Name);
        string name = due.Name;
        _host.Vault.LockSecretAsync(name).PipeTo(Self, success: existed => new Locked(name, existed, reason), failure: e => new Locked(name, false, $"{reason}; the vault did not answer ({e.Message})"));
    }

    private void Forget(string name)
    {
        _entries.Remove(name);
        _host.LockTimes.TryRemove(name, out _);
        Timers.Cancel(name);
    }

    private static string Describe(TimeSpan t) =>
        t.TotalHours >= 1 ? string.Create(CultureInfo.InvariantCulture, $"{t.TotalHours:0.#} h")
        : t.TotalMinutes >= 1 ? string.Create(CultureInfo.InvariantCulture, $"{t.TotalMinutes:0.#} min")
        : string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.#} s");

    /// <summary>Secret <c>Name</c> was set (<c>Lifetime</c>: its own, from <c>unlock -t</c>).</summary>
    public sealed record Set(string Name, TimeSpan? Lifetime);

    /// <summary>Secret <c>Name</c> was leased (or written into an exec pipe).</summary>
    public sealed record Used(string Name);

    /// <summary>Secret <c>Name</c> was locked by a client.</summary>
    public sealed record Dropped(string Name);

    private sealed record Due(string Name, long Generation);

    private sealed record Locked(string Name, bool Existed, string Reason);

    private sealed record Entry(long Generation, DateTimeOffset? Absolute, DateTimeOffset LastUse, TimeSpan? Lifetime);
}
