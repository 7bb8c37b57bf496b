using System.Diagnostics;
using System.Security.Cryptography;

namespace ActorVault.Memory;

/// <summary>Reads a secret inside a callback; the span must not escape it.</summary>
public delegate void SecretReadAction(ReadOnlySpan<byte> secret);

/// <summary>Reads a secret inside a callback and returns a (non-secret) result.</summary>
public delegate TResult SecretReadFunc<out TResult>(ReadOnlySpan<byte> secret);

/// <summary>Reads a secret inside a callback, with state and a (non-secret) result.</summary>
public delegate TResult SecretReadFunc<in TState, out TResult>(ReadOnlySpan<byte> secret, TState state)
    where TState : allows ref struct;

/// <summary>Writes into a secret buffer inside a callback.</summary>
public delegate void SecretWriteAction<in TState>(Span<byte> secret, TState state)
    where TState : allows ref struct;

/// <summary>
/// A secret held in locked, non-dumpable memory outside the managed heap (see <see cref="SecretMemory"/>).
/// Its bytes are reachable only inside a callback (<see cref="Use(SecretReadAction)"/>,
/// <see cref="Write{TState}"/>) or an <see cref="Open"/> scope, never as a string, char array or
/// managed byte array. Disposing it (or losing it to the finalizer) zeroes the memory; any later access
/// throws <see cref="ObjectDisposedException"/>. All serializers refuse it.
/// </summary>
[DebuggerDisplay("SecretBuffer [REDACTED]")]
[System.Text.Json.Serialization.JsonConverter(typeof(SecretBufferSystemTextJsonRefusal))]
[Newtonsoft.Json.JsonConverter(typeof(SecretBufferNewtonsoftRefusal))]
public sealed unsafe class SecretBuffer : IDisposable
{
    /// <summary>The text every log line and <see cref="ToString"/> shows instead of secret bytes.</summary>
    public const string RedactedMarker = "[REDACTED]";

    [DebuggerBrowsable(DebuggerBrowsableState.Never)]
    private readonly SecretHandle _handle;

    // Cached address of the first byte. A pointer field also makes reflection-based serializers
    // (plain Hyperion) fail instead of copying the handle.
    [DebuggerBrowsable(DebuggerBrowsableState.Never)]
    private readonly byte* _data;

    [DebuggerBrowsable(DebuggerBrowsableState.Never)]
    private int _length;

    internal SecretBuffer(SecretHandle handle, int length)
    {
        _handle = handle;
        _data = handle.Pointer;
        _length = length;
    }

    /// <summary>Length of the secret in bytes (not secret).</summary>
    public int Length => Volatile.Read(ref _length);

    /// <summary>True once the buffer was disposed or wiped by <see cref="SecretMemory.ZeroAll"/>.</summary>
    public bool IsZeroed => _handle.IsClosed || _handle.IsWiped;

    internal int Capacity => _handle.Capacity;

    internal SecretHandle Handle => _handle;

    internal nint Address => (nint)_data;

    /// <summary>Lends the bytes to <paramref name="action"/>; the span is valid only during the call.</summary>
    public void Use(SecretReadAction action)
    {
        ArgumentNullException.ThrowIfNull(action);
        using Scope scope = Open();
        action(scope.Bytes);
    }

    /// <summary>Lends the bytes to <paramref name="func"/> and returns its result (which must not copy the secret).</summary>
    public TResult Use<TResult>(SecretReadFunc<TResult> func)
    {
        ArgumentNullException.ThrowIfNull(func);
        using Scope scope = Open();
        return func(scope.Bytes);
    }

    /// <summary>Lends the bytes and <paramref name="state"/> to <paramref name="func"/>, with no closure allocation.</summary>
    public TResult Use<TState, TResult>(TState state, SecretReadFunc<TState, TResult> func)
        where TState : allows ref struct
    {
        ArgumentNullException.ThrowIfNull(func);
        using Scope scope = Open();
        return func(scope.Bytes, state);
    }

    /// <summary>Lends the writable bytes and <paramref name="state"/> to <paramref name="action"/>.</summary>
    public void Write<TState>(TState state, SecretWriteAction<TState> action)
        where TState : allows ref struct
    {
        ArgumentNullException.ThrowIfNull(action);
        using Scope scope = Open();
        action(scope.WritableBytes, state);
    }

    /// <summary>
    /// Opens a scope over the bytes. The buffer cannot be released while the scope is open; dispose
    /// it promptly. <see cref="Scope"/> is a ref struct, so it cannot be stored on the heap.
    /// </summary>
    public Scope Open()
    {
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
        }
        catch (ObjectDisposedException)
        {
            throw Disposed();
        }

        if (_handle.IsWiped)
        {
            _handle.DangerousRelease();
            throw new ObjectDisposedException(nameof(SecretBuffer), $"The secret buffer was zeroed by SecretMemory.ZeroAll ({_handle.WipeReason}); its bytes are gone.");
        }

        return new Scope(this, BeginScope());
    }

    [DebuggerBrowsable(DebuggerBrowsableState.Never)]
    private readonly Lock _scopes = new();
    [DebuggerBrowsable(DebuggerBrowsableState.Never)]
    private long _lastScope;
    [DebuggerBrowsable(DebuggerBrowsableState.Never)]
    private List<long>? _openScopes;

    /// <summary>Registers an open scope (its handle reference is already taken); returns its id.</summary>
    private long BeginScope()
    {
        lock (_scopes)
        {
            long id = ++_lastScope;
            (_openScopes ??= []).Add(id);
            return id;
        }
    }

    /// <summary>
    /// True exactly once per scope id: a copy of a <see cref="Scope"/> (it is a struct) that is disposed
    /// too must not release the buffer's memory a second time, or the slot could be handed to the next
    /// secret while the first scope's span still points at it.
    /// </summary>
    private bool EndScope(long id)
    {
        lock (_scopes)
        {
            return _openScopes?.Remove(id) == true;
        }
    }

    /// <summary>Constant-time comparison with another secret (lengths are compared openly).</summary>
    public bool FixedTimeEquals(SecretBuffer other)
    {
        ArgumentNullException.ThrowIfNull(other);
        using Scope mine = Open();
        using Scope theirs = other.Open();
        return CryptographicOperations.FixedTimeEquals(mine.Bytes, theirs.Bytes);
    }

    /// <summary>Constant-time comparison with bytes the caller holds (lengths are compared openly).</summary>
    public bool FixedTimeEquals(ReadOnlySpan<byte> other)
    {
        using Scope mine = Open();
        return CryptographicOperations.FixedTimeEquals(mine.Bytes, other);
    }

    /// <summary>Zeroes the bytes and returns the memory. Idempotent.</summary>
    public void Dispose() => _handle.Dispose();

    /// <summary>
    /// Zeroes the bytes <em>now</em>, from any thread, even while a scope or <see cref="Hold"/> is open
    /// (the memory stays mapped, so a reader sees zeros, never another secret). Later access throws
    /// <see cref="ObjectDisposedException"/> naming <paramref name="reason"/>. Used for deadlines and
    /// revocation. Returns false when the buffer was already wiped or disposed.
    /// </summary>
    public bool Wipe(string reason)
    {
        ArgumentException.ThrowIfNullOrEmpty(reason);
        return !_handle.IsClosed && _handle.TryEmergencyWipe(reason);
    }

    /// <summary>
    /// Keeps the buffer's memory from being released until the returned hold is disposed, and gives
    /// read access through it: for an object (a lease) that hands out spans during a callback while
    /// another thread may <see cref="Wipe"/> or <see cref="Dispose"/> the buffer. Never lets a span
    /// point at a slot that was handed to another secret.
    /// </summary>
    public SecretHold Hold()
    {
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
        }
        catch (ObjectDisposedException)
        {
            throw Disposed();
        }

        return new SecretHold(this);
    }

    /// <summary>The bytes without a scope, for <see cref="SecretHold"/> (which keeps the memory alive).</summary>
    internal ReadOnlySpan<byte> HeldBytes => _handle.IsWiped
        ? throw new ObjectDisposedException(nameof(SecretBuffer), $"The secret buffer was zeroed ({_handle.WipeReason}); its bytes are gone.")
        : new(_data, Length);

    internal void ReleaseHold() => _handle.DangerousRelease();

    /// <summary>Never the content: a redacted marker and the length.</summary>
    public override string ToString() => $"SecretBuffer {RedactedMarker} ({Length} bytes)";

    /// <summary>Shortens the secret to <paramref name="length"/> bytes, zeroing the rest (readers trim newlines).</summary>
    internal void Truncate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        using Scope scope = Open();
        if (length > scope.Capacity)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, "Cannot grow a secret buffer.");
        }

        CryptographicOperations.ZeroMemory(new Span<byte>(_data + length, scope.Capacity - length));
        Volatile.Write(ref _length, length);
    }

    private static ObjectDisposedException Disposed() =>
        new(nameof(SecretBuffer), "The secret buffer was disposed and its bytes zeroed; it can no longer be read.");

    /// <summary>An open view of a <see cref="SecretBuffer"/>'s bytes; dispose it to let the buffer be released.</summary>
    public ref struct Scope
    {
        private SecretBuffer? _owner;
        private readonly long _id;

        internal Scope(SecretBuffer owner, long id)
        {
            _owner = owner;
            _id = id;
        }

        /// <summary>The secret bytes, read-only.</summary>
        public readonly ReadOnlySpan<byte> Bytes => new(Owner._data, Owner.Length);

        /// <summary>The secret bytes, writable.</summary>
        public readonly Span<byte> WritableBytes => new(Owner._data, Owner.Length);

        internal readonly int Capacity => Owner.Capacity;

        internal readonly Span<byte> WholeCapacity => new(Owner._data, Owner.Capacity);

        private readonly SecretBuffer Owner => _owner ?? throw Disposed();

        /// <summary>Ends the scope.</summary>
        public void Dispose()
        {
            SecretBuffer? owner = _owner;
            _owner = null;
            if (owner is not null && owner.EndScope(_id))
            {
                owner._handle.DangerousRelease();
            }
        }
    }
}

/// <summary>
/// A reference that keeps a <see cref="SecretBuffer"/>'s memory mapped (see <see cref="SecretBuffer.Hold"/>).
/// Dispose it exactly once; reading after the buffer was wiped throws.
/// </summary>
public sealed class SecretHold : IDisposable
{
    private SecretBuffer? _buffer;

    internal SecretHold(SecretBuffer buffer) => _buffer = buffer;

    /// <summary>The bytes; throws <see cref="ObjectDisposedException"/> once the buffer was wiped or the hold released.</summary>
    public ReadOnlySpan<byte> Bytes => (Volatile.Read(ref _buffer) ?? throw new ObjectDisposedException(nameof(SecretHold))).HeldBytes;

    /// <summary>Releases the hold; the buffer can then be released.</summary>
    public void Dispose() => Interlocked.Exchange(ref _buffer, null)?.ReleaseHold();

    /// <summary>Never the content.</summary>
    public override string ToString() => $"SecretHold {SecretBuffer.RedactedMarker}";
}
