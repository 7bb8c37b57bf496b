using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace ActorVault.Memory;

/// <summary>
/// Owns one slot of a <see cref="SecretArena"/>. Its handle is the address of the buffer's first byte.
/// Releasing it (dispose, or finalization if someone forgot) zeroes the slot and returns it.
/// </summary>
internal sealed unsafe class SecretHandle : SafeHandle
{
    private const int Live = 0;
    private const int Zeroing = 1;
    private const int Wiped = 2;
    private const int Releasing = 3;

    private readonly SecretMemoryPool _pool;
    private int _state;
    private string? _wipeReason;

    internal SecretHandle(SecretMemoryPool pool, SecretArena arena, int slot, int capacity)
        : base(IntPtr.Zero, ownsHandle: true)
    {
        _pool = pool;
        Arena = arena;
        Slot = slot;
        Capacity = capacity;
        nint slotEnd = arena.SlotAddress(slot) + (nint)arena.SlotBytes;
        SetHandle(slotEnd - capacity);
    }

    internal SecretArena Arena { get; }

    internal int Slot { get; }

    internal int Capacity { get; }

    internal byte* Pointer => (byte*)handle;

    internal bool IsWiped => Volatile.Read(ref _state) == Wiped;

    internal string? WipeReason => _wipeReason;

    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>Zeroes the bytes now, from any thread, without freeing the slot. Idempotent.</summary>
    internal bool TryEmergencyWipe(string reason)
    {
        if (Interlocked.CompareExchange(ref _state, Zeroing, Live) != Live)
        {
            return false;
        }

        CryptographicOperations.ZeroMemory(new Span<byte>(Pointer, Capacity));
        _wipeReason = reason;
        Volatile.Write(ref _state, Wiped);
        return true;
    }

    protected override bool ReleaseHandle()
    {
        var spinner = default(SpinWait);
        while (true)
        {
            int state = Volatile.Read(ref _state);
            if (state == Zeroing)
            {
                spinner.SpinOnce();
                continue;
            }

            if (Interlocked.CompareExchange(ref _state, Releasing, state) == state)
            {
                break;
            }
        }

        _pool.Release(this);
        return true;
    }
}
