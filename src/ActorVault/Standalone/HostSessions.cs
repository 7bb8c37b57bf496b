using ActorVault.Crypto;
using ActorVault.Memory;
using ActorVault.Protocol;
using ActorVault.Serialization;

namespace ActorVault.Standalone;

/// <summary>
/// Who may open a session with the standalone host: a frame whose session id is fresh (its timestamp
/// within <see cref="ClockSkew"/> of now), never used before (retired ids are remembered while they
/// could still pass the freshness test, so a recorded frame cannot be replayed into a new session),
/// while fewer than <see cref="MaxSessions"/> are open — and, checked by the serializer, whose tag
/// verifies under keys derived from the client key. Owns (and zeroes) the client key.
/// </summary>
internal sealed class HostSessions : ISessionAdmission, IDisposable
{
    private readonly SecretBuffer _clientKey;
    private readonly SessionKeyRing _ring;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<SessionId, long> _retired = [];
    private readonly Dictionary<SessionId, long> _lastSeen = [];

    public HostSessions(SecretBuffer clientKey, SessionKeyRing ring, int maxSessions, TimeSpan clockSkew, TimeProvider? time = null)
    {
        _clientKey = clientKey;
        _ring = ring;
        MaxSessions = maxSessions;
        ClockSkew = clockSkew;
        _time = time ?? TimeProvider.System;
    }

    public int MaxSessions { get; }

    public TimeSpan ClockSkew { get; }

    public int Open
    {
        get
        {
            lock (_gate)
            {
                return _lastSeen.Count;
            }
        }
    }

    public long Refused => Interlocked.Read(ref _refused);

    private long _refused;
    private int _reserved;

    public SessionKeys? Candidate(SessionId id, out string? reason)
    {
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        lock (_gate)
        {
            ulong skew = (ulong)ClockSkew.TotalMilliseconds;
            ulong stamp = id.High;
            ulong clock = (ulong)now;
            reason = (stamp > clock ? stamp - clock : clock - stamp) > skew ? "stale or future session id"
                : _retired.ContainsKey(id) ? "retired session id"
                : _lastSeen.Count + _reserved >= MaxSessions ? "too many open sessions"
                : null;
            if (reason is null)
            {
                // Reserve the place now, so concurrent first frames cannot overshoot the cap.
                _reserved++;
            }
        }

        if (reason is not null)
        {
            Interlocked.Increment(ref _refused);
            return null;
        }

        return SessionKeys.DeriveHostSession(_clientKey, id);
    }

    public void Admitted(SessionId id)
    {
        bool retired;
        lock (_gate)
        {
            _reserved--;
            retired = _retired.ContainsKey(id);
            if (!retired)
            {
                _lastSeen[id] = _time.GetTimestamp();
            }
        }

        if (retired)
        {
            _ring.Remove(id);
        }
    }

    public void Abandoned(SessionId id)
    {
        lock (_gate)
        {
            _reserved--;
        }
    }

    /// <summary>A request of <paramref name="id"/> arrived (keeps it from being swept as idle).</summary>
    public void Seen(SessionId id)
    {
        lock (_gate)
        {
            if (_lastSeen.ContainsKey(id))
            {
                _lastSeen[id] = _time.GetTimestamp();
            }
        }
    }

    public bool IsOpen(SessionId id)
    {
        lock (_gate)
        {
            return _lastSeen.ContainsKey(id);
        }
    }

    /// <summary>Closes a session: its keys are zeroed and its id is never admitted again.</summary>
    public void Retire(SessionId id)
    {
        lock (_gate)
        {
            _lastSeen.Remove(id);
            _retired[id] = _time.GetUtcNow().ToUnixTimeMilliseconds();
        }

        _ring.Remove(id);
    }

    /// <summary>Retires sessions idle longer than <paramref name="idle"/> and forgets retired ids too old to pass the freshness test.</summary>
    public int Sweep(TimeSpan idle)
    {
        List<SessionId> expired;
        long nowMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
        lock (_gate)
        {
            expired = [.. _lastSeen.Where(p => _time.GetElapsedTime(p.Value) > idle).Select(p => p.Key)];
            foreach (SessionId id in _retired.Keys.Where(id => nowMs - (long)id.High > 2 * (long)ClockSkew.TotalMilliseconds).ToList())
            {
                _retired.Remove(id);
            }
        }

        foreach (SessionId id in expired)
        {
            Retire(id);
        }

        return expired.Count;
    }

    public void Dispose()
    {
        _ring.Admission = null;
        _ring.Clear();
        _clientKey.Dispose();
    }
}
