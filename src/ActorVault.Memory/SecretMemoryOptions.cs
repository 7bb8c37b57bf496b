namespace ActorVault.Memory;

/// <summary>Which kind of pages back the secret arenas.</summary>
public enum SecretMemoryBacking
{
    /// <summary><see cref="MemfdSecret"/> where the kernel offers it, otherwise <see cref="LockedAnonymous"/>.</summary>
    Auto = 0,

    /// <summary>
    /// <c>memfd_secret(2)</c> (Linux ≥ 5.14): pages leave the kernel's direct map, are locked and never
    /// dumped, and cannot be read through <c>/proc/PID/mem</c>, even by root.
    /// </summary>
    MemfdSecret = 1,

    /// <summary>Anonymous private pages with <c>mlock</c>, <c>MADV_DONTDUMP</c> and <c>MADV_WIPEONFORK</c>.</summary>
    LockedAnonymous = 2,
}

/// <summary>Settings of the process-wide secret memory. Set them once, before the first secret.</summary>
public sealed record SecretMemoryOptions
{
    /// <summary>Which pages back the arenas. Default <see cref="SecretMemoryBacking.Auto"/>.</summary>
    public SecretMemoryBacking Backing { get; init; } = SecretMemoryBacking.Auto;

    /// <summary>
    /// Make idle slots inaccessible (<c>PROT_NONE</c>) so that a stale pointer faults instead of
    /// reading a later secret's slot. Costs two <c>mprotect</c> calls (and TLB flushes) per buffer:
    /// measured at 3–6 µs against ~0.2 µs without (docs/benchmarks.md), so it is off by default.
    /// Guard pages between slots are always on.
    /// </summary>
    public bool ProtectIdleSlots { get; init; }

    /// <summary>
    /// Continue with unlocked (swappable) memory when <c>RLIMIT_MEMLOCK</c> forbids locking, with a
    /// warning. Off by default: locking failure is an error that names the limit and the fix.
    /// </summary>
    public bool AllowUnlockedMemory { get; init; }

    /// <summary>Slots carved from each arena mapping (each slot is one or more whole pages). Default 64.</summary>
    public int SlotsPerArena { get; init; } = 64;

    /// <summary>Largest single secret buffer, in bytes. Default 1 MiB.</summary>
    public int MaxBufferBytes { get; init; } = 1024 * 1024;

    /// <summary>Where warnings go (never secret content). Default: standard error.</summary>
    public Action<string>? Warning { get; init; }

    internal void Validate()
    {
        if (!Enum.IsDefined(Backing))
        {
            throw new ArgumentOutOfRangeException(nameof(Backing), Backing, "Unknown secret memory backing.");
        }

        if (SlotsPerArena is < 1 or > 4096)
        {
            throw new ArgumentOutOfRangeException(nameof(SlotsPerArena), SlotsPerArena, "SlotsPerArena must be between 1 and 4096.");
        }

        if (MaxBufferBytes is < 1 or > 64 * 1024 * 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxBufferBytes), MaxBufferBytes, "MaxBufferBytes must be between 1 byte and 64 MiB.");
        }
    }
}

/// <summary>A snapshot of the secret memory: what backs it and how much is held.</summary>
/// <param name="Backing">The backing in use (never <see cref="SecretMemoryBacking.Auto"/> once an arena exists).</param>
/// <param name="BackingNote">Why that backing was chosen, e.g. why memfd_secret was not available.</param>
/// <param name="IsLocked">False only when <see cref="SecretMemoryOptions.AllowUnlockedMemory"/> let an arena stay unlocked.</param>
/// <param name="LockedBytes">Bytes of slot pages locked in RAM.</param>
/// <param name="ArenaCount">Arena mappings made so far.</param>
/// <param name="SlotCount">Slots carved from them.</param>
/// <param name="LiveBuffers">Secret buffers currently allocated (not yet released).</param>
/// <param name="ProtectIdleSlots">Whether idle slots are kept PROT_NONE.</param>
public sealed record SecretMemoryStatus(
    SecretMemoryBacking Backing,
    string BackingNote,
    bool IsLocked,
    long LockedBytes,
    int ArenaCount,
    int SlotCount,
    int LiveBuffers,
    bool ProtectIdleSlots);
