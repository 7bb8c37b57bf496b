using System.Runtime.InteropServices;
using System.Security.Cryptography;
using ActorVault.Memory.Interop;

namespace ActorVault.Memory;

/// <summary>
/// One mapping carved into equal slots, each slot one or more whole pages with a PROT_NONE guard
/// page after it (and one before the first): <c>[guard][slot 0][guard][slot 1][guard]…</c>.
/// A buffer sits at the end of its slot, so a one-byte overrun faults on the guard page.
/// </summary>
internal sealed unsafe class SecretArena
{
    private readonly bool _protectIdle;
    private readonly nint _base;
    private readonly nuint _mapBytes;
    /// <summary>
    /// Free slots as a FIFO ring: a released slot is handed out again only after every other free slot,
    /// so a stale pointer into it reads zeros, not the next secret (a LIFO list would give the very
    /// same slot to the next allocation).
    /// </summary>
    private readonly int[] _free;
    private int _freeHead;
    private int _freeCount;
    private readonly SecretHandle?[] _owners;

    internal SecretArena(Lock gate, int slotPages, int slotCount, SecretMemoryBacking backing, bool locked, bool protectIdle, nint mapBase, nuint mapBytes)
    {
        _protectIdle = protectIdle;
        Gate = gate;
        SlotPages = slotPages;
        SlotCount = slotCount;
        Backing = backing;
        IsLocked = locked;
        _base = mapBase;
        _mapBytes = mapBytes;
        _owners = new SecretHandle?[slotCount];
        _free = new int[slotCount];
        for (int i = 0; i < slotCount; i++)
        {
            _free[i] = i;
        }

        _freeCount = slotCount;
    }

    /// <summary>The lock of this arena's size class; guards the free list.</summary>
    internal Lock Gate { get; }

    internal int SlotPages { get; }

    internal int SlotCount { get; }

    internal SecretMemoryBacking Backing { get; }

    internal bool IsLocked { get; }

    internal nint Base => _base;

    internal nuint MapBytes => _mapBytes;

    internal static int PageSize { get; } = Environment.SystemPageSize;

    internal nuint SlotBytes => (nuint)(SlotPages * PageSize);

    internal long LockedBytes => IsLocked ? (long)SlotBytes * SlotCount : 0;

    /// <summary>Start of slot <paramref name="index"/>: one guard page, then (slot + guard) strides.</summary>
    internal nint SlotAddress(int index) => SlotAddress(_base, SlotPages, index);

    internal static nint SlotAddress(nint mapBase, int slotPages, int index) => mapBase + PageSize + (index * (slotPages + 1) * PageSize);

    internal static nuint MappingBytes(int slotPages, int slotCount) => (nuint)((1 + (slotCount * (slotPages + 1))) * PageSize);

    /// <summary>Takes a free slot, or returns -1. Caller holds the pool's lock for this size class.</summary>
    internal int TryTakeSlot()
    {
        if (_freeCount == 0)
        {
            return -1;
        }

        int slot = _free[_freeHead];
        _freeHead = (_freeHead + 1) % _free.Length;
        _freeCount--;
        if (_protectIdle)
        {
            Protect(slot, Libc.PROT_READ | Libc.PROT_WRITE);
        }

        return slot;
    }

    internal void SetOwner(int slot, SecretHandle owner) => Volatile.Write(ref _owners[slot], owner);

    /// <summary>
    /// Zeroes the buffer's bytes (the last <paramref name="capacity"/> bytes of the slot: nothing else
    /// of a slot is ever handed out), makes the slot idle again and returns it. Caller holds <see cref="Gate"/>.
    /// </summary>
    internal void ReturnSlot(int slot, int capacity)
    {
        CryptographicOperations.ZeroMemory(new Span<byte>((void*)(SlotAddress(slot) + (nint)SlotBytes - capacity), capacity));
        Volatile.Write(ref _owners[slot], null);
        if (_protectIdle)
        {
            Protect(slot, Libc.PROT_NONE);
        }

        _free[(_freeHead + _freeCount) % _free.Length] = slot;
        _freeCount++;
    }

    internal int FreeSlots => _freeCount;

    /// <summary>Zeroes every live buffer in this arena. Lock-free: safe from signal and crash handlers.</summary>
    internal int ZeroAllLive(string reason)
    {
        int zeroed = 0;
        for (int i = 0; i < _owners.Length; i++)
        {
            SecretHandle? owner = Volatile.Read(ref _owners[i]);
            if (owner is not null && owner.TryEmergencyWipe(reason))
            {
                zeroed++;
            }
        }

        return zeroed;
    }

    private void Protect(int slot, int protection)
    {
        if (Libc.mprotect(SlotAddress(slot), SlotBytes, protection) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new SecretMemoryException($"mprotect of a secret slot failed: {Libc.Describe(errno)}.");
        }
    }
}
