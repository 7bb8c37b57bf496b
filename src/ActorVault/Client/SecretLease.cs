using System.Diagnostics;
using ActorVault.Memory;

namespace ActorVault;

/// <summary>
/// Callback-scoped access to a secret: valid only inside the <see cref="ISecretLender.WithSecretAsync{T}"/>
/// callback that received it, and only until its <see cref="Deadline"/>. When the callback ends —
/// return, exception, cancellation — or the deadline passes, the lease is revoked, or the vault dies,
/// the bytes are zeroed at once (even while the callback still runs) and any later access throws:
/// <see cref="LeaseExpiredException"/>, <see cref="LeaseRevokedException"/> or
/// <see cref="VaultUnavailableException"/>. Each lease has its own buffer in secret memory.
/// </summary>
[DebuggerDisplay("SecretLease [REDACTED]")]
[System.Text.Json.Serialization.JsonConverter(typeof(SecretLeaseJsonRefusal))]
[Newtonsoft.Json.JsonConverter(typeof(SecretLeaseNewtonsoftRefusal))]
public sealed class SecretLease
{
    private const int Live = 0;
    private readonly SecretBuffer _buffer;
    private readonly SecretHold _hold;
    private readonly CancellationTokenSource _ended = new();
    private int _state = Live;
    private LeaseEnd _end;
    private string _endReason = string.Empty;

    private ITimer? _deadlineTimer;

    /// <summary>A lease granted now for <paramref name="ttl"/> on <paramref name="clock"/> (default: the system's monotonic clock).</summary>
    internal SecretLease(Guid id, string name, TimeSpan ttl, SecretBuffer buffer, TimeProvider? clock = null)
    {
        Clock = clock ?? TimeProvider.System;
        Id = id;
        Name = name;
        GrantedAt = Clock.GetUtcNow();
        Deadline = GrantedAt + ttl;
        Ttl = ttl;
        GrantedTimestamp = Clock.GetTimestamp();
        DeadlineTimestamp = GrantedTimestamp + (long)(ttl.TotalSeconds * Clock.TimestampFrequency);
        _buffer = buffer;
        _hold = buffer.Hold();
        Length = buffer.Length;
    }

    /// <summary>The lease id (as in the audit trail).</summary>
    public Guid Id { get; }

    /// <summary>The secret's name.</summary>
    public string Name { get; }

    /// <summary>When the vault granted it.</summary>
    public DateTimeOffset GrantedAt { get; }

    /// <summary>The hard deadline: the bytes are zeroed then, whatever the callback is doing.</summary>
    public DateTimeOffset Deadline { get; }

    /// <summary>Length of the secret in bytes.</summary>
    public int Length { get; }

    /// <summary>True until the lease ends (callback over, deadline, revoke, vault death).</summary>
    public bool IsLive => Volatile.Read(ref _state) == Live;

    /// <summary>Cancelled when the lease ends for any reason: pass it to work done inside the callback.</summary>
    public CancellationToken Ended => _ended.Token;

    /// <summary>
    /// The secret bytes, while the lease is live. Read them synchronously; do not copy them into a
    /// string, array or anything that outlives the callback (see README, "Safe patterns").
    /// </summary>
    public ReadOnlySpan<byte> Bytes
    {
        get
        {
            // Every access checks the clock itself: past the deadline the bytes are zeroed now, even
            // if the deadline thread has not run yet.
            if (Clock.GetTimestamp() >= DeadlineTimestamp)
            {
                Expire();
            }

            ThrowIfEnded();
            try
            {
                return _hold.Bytes;
            }
            catch (ObjectDisposedException)
            {
                ThrowIfEnded();
                throw;
            }
        }
    }

    /// <summary>Runs <paramref name="action"/> on the bytes.</summary>
    public void Use(SecretReadAction action)
    {
        ArgumentNullException.ThrowIfNull(action);
        action(Bytes);
    }

    /// <summary>Runs <paramref name="func"/> on the bytes and returns its (non-secret) result.</summary>
    public TResult Use<TResult>(SecretReadFunc<TResult> func)
    {
        ArgumentNullException.ThrowIfNull(func);
        return func(Bytes);
    }

    /// <summary>Runs <paramref name="func"/> on the bytes with state and returns its (non-secret) result.</summary>
    public TResult Use<TState, TResult>(TState state, SecretReadFunc<TState, TResult> func)
        where TState : allows ref struct
    {
        ArgumentNullException.ThrowIfNull(func);
        return func(Bytes, state);
    }

    /// <summary>Never the bytes.</summary>
    public override string ToString() => $"SecretLease {Id} '{Name}' {SecretBuffer.RedactedMarker} ({Length} bytes)";

    internal LeaseEnd EndReason => _end;

    /// <summary>Why the lease ended, in words (for the audit line).</summary>
    internal string EndReasonText => _endReason;

    /// <summary>The clock of the deadline: the system's, or a test's (TestVault with a TimeProvider).</summary>
    internal TimeProvider Clock { get; }

    internal TimeSpan Ttl { get; }

    /// <summary>When it was granted, on <see cref="Clock"/>'s monotonic timestamps.</summary>
    internal long GrantedTimestamp { get; }

    /// <summary>The deadline on <see cref="Clock"/>'s monotonic timestamps: wall-clock changes do not move it.</summary>
    internal long DeadlineTimestamp { get; }

    /// <summary>Time held so far, on <see cref="Clock"/>.</summary>
    internal TimeSpan Held => Clock.GetElapsedTime(GrantedTimestamp);

    /// <summary>
    /// Arms the hard deadline: on the system clock, the dedicated deadline thread (no thread-pool
    /// thread needed); on a test's clock, that clock's timer (a fake clock fires it when advanced).
    /// </summary>
    internal void ArmDeadline()
    {
        if (ReferenceEquals(Clock, TimeProvider.System))
        {
            Client.LeaseDeadlines.Arm(this);
            return;
        }

        _deadlineTimer = Clock.CreateTimer(static state => ((SecretLease)state!).Expire(), this, Ttl, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Ends the lease as expired (bytes zeroed now); true for the first end only.</summary>
    internal bool Expire() => End(LeaseEnd.Expired, "deadline reached");

    internal SecretBuffer Buffer => _buffer;

    /// <summary>Ends the lease: zeroes the bytes now and records why. True for the first call only.</summary>
    internal bool End(LeaseEnd end, string reason)
    {
        if (!EndQuietly(end, reason))
        {
            return false;
        }

        NotifyEnded();
        return true;
    }

    /// <summary>Ends the lease and zeroes the bytes now, without running <see cref="Ended"/>'s callbacks yet (see <see cref="NotifyEnded"/>).</summary>
    internal bool EndQuietly(LeaseEnd end, string reason)
    {
        if (Interlocked.CompareExchange(ref _state, 1, Live) != Live)
        {
            return false;
        }

        _end = end;
        _endReason = reason;
        _buffer.Wipe($"lease {Id} of '{Name}' {end.ToString().ToLowerInvariant()}: {reason}");
        return true;
    }

    /// <summary>Runs the callbacks registered on <see cref="Ended"/> (the user's code: it may be slow).</summary>
    internal void NotifyEnded()
    {
        try
        {
            _ended.Cancel();
        }
        catch (AggregateException)
        {
            // A callback registered on Ended threw; the lease is ended regardless.
        }
        catch (ObjectDisposedException)
        {
            // Closed already: nobody is listening.
        }
    }

    /// <summary>Releases the memory once the callback is over (after <see cref="End"/>).</summary>
    internal void Close()
    {
        End(LeaseEnd.Released, "the callback ended");
        _deadlineTimer?.Dispose();
        _hold.Dispose();
        _buffer.Dispose();
        _ended.Dispose();
    }

    private void ThrowIfEnded()
    {
        if (Volatile.Read(ref _state) == Live)
        {
            return;
        }

        throw EndedException(null);
    }

    /// <summary>The exception of this lease's end: what an access after it throws, and what the call throws when the lease ended before its callback returned.</summary>
    internal Exception EndedException(Exception? inner) => _end switch
    {
        LeaseEnd.Revoked => inner is null
            ? new LeaseRevokedException($"Lease {Id} of secret '{Name}' was revoked ({_endReason}); its bytes are zeroed.")
            : new LeaseRevokedException($"Lease {Id} of secret '{Name}' was revoked ({_endReason}); its bytes are zeroed.", inner),
        LeaseEnd.VaultLost => new VaultUnavailableException($"Lease {Id} of secret '{Name}' ended: {_endReason}; its bytes are zeroed.", VaultState.Restarting),
        LeaseEnd.Cancelled => new OperationCanceledException($"Lease {Id} of secret '{Name}' ended: {_endReason}; its bytes are zeroed.", inner),
        LeaseEnd.Expired => inner is null
            ? new LeaseExpiredException($"Lease {Id} of secret '{Name}' passed its deadline ({Deadline:O}); its bytes are zeroed.")
            : new LeaseExpiredException($"Lease {Id} of secret '{Name}' passed its deadline ({Deadline:O}); its bytes are zeroed.", inner),
        _ => new LeaseExpiredException($"Lease {Id} of secret '{Name}' has ended ({_endReason}); its bytes are zeroed. Use the bytes only inside the callback."),
    };
}

/// <summary>Why a lease ended (drives the exception a late access throws).</summary>
internal enum LeaseEnd
{
    Released,
    Expired,
    Revoked,
    VaultLost,

    /// <summary>The caller's cancellation token fired while the callback ran.</summary>
    Cancelled,
}

/// <summary>Options of one lease. Null properties keep the configured defaults.</summary>
public sealed record LeaseOptions
{
    /// <summary>Hard deadline of the lease (default 30 s; the vault refuses more than its maximum).</summary>
    public TimeSpan? Ttl { get; init; }

    /// <summary>How long to wait for capacity when the application already holds its maximum of leases; zero fails fast.</summary>
    public TimeSpan? CapacityWait { get; init; }
}

/// <summary>The lease passed its deadline (or its callback already ended); its bytes are zeroed.</summary>
public sealed class LeaseExpiredException : Exception
{
    /// <summary>Creates the exception.</summary>
    public LeaseExpiredException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public LeaseExpiredException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public LeaseExpiredException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The lease was revoked (one lease, all leases, or its secret locked); its bytes are zeroed.</summary>
public sealed class LeaseRevokedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public LeaseRevokedException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public LeaseRevokedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public LeaseRevokedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Why the vault has no secret of a name to lend.</summary>
public enum SecretUnavailableReason
{
    /// <summary>Never set in this vault (a restarted vault starts empty, locked).</summary>
    NeverSet,

    /// <summary>Locked: dropped from the vault (<c>LockSecretAsync</c>, <c>actorvault lock</c>); set it again.</summary>
    Locked,
}

/// <summary>
/// There is no secret of that name to lend (or verify), whatever the cause — the one type to catch;
/// <see cref="Reason"/> says which (<see cref="SecretLockedException"/> is the locked case).
/// </summary>
public class SecretUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public SecretUnavailableException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public SecretUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public SecretUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public SecretUnavailableException(string message, SecretUnavailableReason reason)
        : base(message) => Reason = reason;

    /// <summary>Why there is no secret to lend.</summary>
    public SecretUnavailableReason Reason { get; }
}

/// <summary>The secret was locked (dropped from the vault); set it again before leasing it.</summary>
public sealed class SecretLockedException : SecretUnavailableException
{
    /// <summary>Creates the exception.</summary>
    public SecretLockedException()
        : base(string.Empty, SecretUnavailableReason.Locked)
    {
    }

    /// <summary>Creates the exception.</summary>
    public SecretLockedException(string message)
        : base(message, SecretUnavailableReason.Locked)
    {
    }

    /// <summary>Creates the exception.</summary>
    public SecretLockedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The application already holds its maximum of leases and none freed up in time.</summary>
public sealed class LeaseCapacityException : Exception
{
    /// <summary>Creates the exception.</summary>
    public LeaseCapacityException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public LeaseCapacityException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public LeaseCapacityException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

internal sealed class SecretLeaseJsonRefusal : System.Text.Json.Serialization.JsonConverter<SecretLease>
{
    public override SecretLease Read(ref System.Text.Json.Utf8JsonReader reader, Type typeToConvert, System.Text.Json.JsonSerializerOptions options) =>
        throw new SecretSerializationException("A SecretLease is never deserialized.");

    public override void Write(System.Text.Json.Utf8JsonWriter writer, SecretLease value, System.Text.Json.JsonSerializerOptions options) =>
        throw new SecretSerializationException("A SecretLease gives access to secret bytes and is never serialized.");
}

internal sealed class SecretLeaseNewtonsoftRefusal : Newtonsoft.Json.JsonConverter
{
    public override bool CanConvert(Type objectType) => objectType == typeof(SecretLease);

    public override object ReadJson(Newtonsoft.Json.JsonReader reader, Type objectType, object? existingValue, Newtonsoft.Json.JsonSerializer serializer) =>
        throw new SecretSerializationException("A SecretLease is never deserialized.");

    public override void WriteJson(Newtonsoft.Json.JsonWriter writer, object? value, Newtonsoft.Json.JsonSerializer serializer) =>
        throw new SecretSerializationException("A SecretLease gives access to secret bytes and is never serialized.");
}
