using System.Runtime.InteropServices;
using ActorVault.Memory.Interop;

namespace ActorVault.Memory;

/// <summary>
/// Arenas grouped by slot size (in pages). Allocation takes a lock per size class; zeroing every live
/// buffer (<see cref="ZeroAllLive"/>) takes none. The process normally has one pool,
/// <see cref="SecretMemory"/>'s; benchmarks make others to compare backings.
/// </summary>
internal sealed unsafe class SecretMemoryPool
{
    private static SecretMemoryPool[] s_pools = [];
    private static readonly Lock s_poolsLock = new();

    private readonly Dictionary<int, SizeClass> _classes = [];
    private readonly SizeClass _onePage = new();
    private readonly Lock _classesLock = new();
    private SecretArena[] _arenas = [];
    private int _liveBuffers;
    private string _backingNote = "no arena mapped yet";
    private bool _warnedUnlocked;

    internal SecretMemoryPool(SecretMemoryOptions options)
    {
        options.Validate();
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("ActorVault secret memory needs Linux (memfd_secret or mlock).");
        }

        Options = options;
        lock (s_poolsLock)
        {
            s_pools = [.. s_pools, this];
        }
    }

    internal SecretMemoryOptions Options { get; }

    internal static SecretMemoryPool[] All => Volatile.Read(ref s_pools);

    internal int LiveBuffers => Volatile.Read(ref _liveBuffers);

    internal SecretArena[] Arenas => Volatile.Read(ref _arenas);

    internal SecretHandle Allocate(int capacity)
    {
        if (capacity < 1 || capacity > Options.MaxBufferBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, $"A secret buffer holds 1 to {Options.MaxBufferBytes} bytes.");
        }

        int slotPages = (capacity + SecretArena.PageSize - 1) / SecretArena.PageSize;
        SizeClass sizeClass = slotPages == 1 ? _onePage : ClassFor(slotPages);

        lock (sizeClass.Gate)
        {
            foreach (SecretArena candidate in sizeClass.Arenas)
            {
                int taken = candidate.TryTakeSlot();
                if (taken >= 0)
                {
                    return Bind(candidate, taken, capacity);
                }
            }

            SecretArena arena = MapArena(sizeClass.Gate, slotPages, Math.Max(1, Options.SlotsPerArena / slotPages));
            sizeClass.Arenas.Insert(0, arena);
            return Bind(arena, arena.TryTakeSlot(), capacity);
        }
    }

    private SizeClass ClassFor(int slotPages)
    {
        lock (_classesLock)
        {
            if (!_classes.TryGetValue(slotPages, out SizeClass? sizeClass))
            {
                sizeClass = new SizeClass();
                _classes.Add(slotPages, sizeClass);
            }

            return sizeClass;
        }
    }

    private SecretHandle Bind(SecretArena arena, int slot, int capacity)
    {
        var handle = new SecretHandle(this, arena, slot, capacity);
        arena.SetOwner(slot, handle);
        Interlocked.Increment(ref _liveBuffers);
        return handle;
    }

    internal void Release(SecretHandle handle)
    {
        lock (handle.Arena.Gate)
        {
            handle.Arena.ReturnSlot(handle.Slot, handle.Capacity);
        }

        Interlocked.Decrement(ref _liveBuffers);
    }

    internal int ZeroAllLive(string reason)
    {
        int zeroed = 0;
        foreach (SecretArena arena in Arenas)
        {
            zeroed += arena.ZeroAllLive(reason);
        }

        return zeroed;
    }

    internal SecretMemoryStatus Status()
    {
        SecretArena[] arenas = Arenas;
        return new SecretMemoryStatus(
            arenas is [SecretArena first, ..] ? first.Backing : Options.Backing,
            _backingNote,
            arenas.All(a => a.IsLocked),
            arenas.Sum(a => a.LockedBytes),
            arenas.Length,
            arenas.Sum(a => a.SlotCount),
            LiveBuffers,
            Options.ProtectIdleSlots);
    }

    private SecretArena MapArena(Lock gate, int slotPages, int slotCount)
    {
        nuint mapBytes = SecretArena.MappingBytes(slotPages, slotCount);
        // Every arena uses the backing the first one got.
        SecretMemoryBacking wanted = Arenas is [SecretArena first, ..] ? first.Backing : Options.Backing;
        SecretArena? arena = null;
        string note = "anonymous pages: mlock, MADV_DONTDUMP, MADV_WIPEONFORK";
        if (wanted != SecretMemoryBacking.LockedAnonymous)
        {
            arena = TryMapMemfdSecret(gate, slotPages, slotCount, mapBytes, out string? unavailable);
            if (arena is not null)
            {
                note = "memfd_secret: pages outside the kernel direct map, locked, never dumped";
            }
            else if (wanted == SecretMemoryBacking.MemfdSecret)
            {
                throw new SecretMemoryException($"memfd_secret is not available: {unavailable}. Boot with secretmem.enable=1 (Linux ≥ 5.14), or choose SecretMemoryBacking.LockedAnonymous.");
            }
            else
            {
                note = $"memfd_secret unavailable ({unavailable}); anonymous pages: mlock, MADV_DONTDUMP, MADV_WIPEONFORK";
            }
        }

        arena ??= MapLockedAnonymous(gate, slotPages, slotCount, mapBytes);
        lock (_classesLock)
        {
            _backingNote = note;
            _arenas = [.. _arenas, arena];
        }

        return arena;
    }

    /// <summary>
    /// Maps a memfd_secret arena, or returns null (with the reason) when the kernel has no
    /// memfd_secret, or when the locked-memory limit refuses it and <see cref="SecretMemoryOptions.AllowUnlockedMemory"/>
    /// lets the caller fall back. Without that opt-in, a limit failure throws, naming the limit and the fix.
    /// </summary>
    private SecretArena? TryMapMemfdSecret(Lock gate, int slotPages, int slotCount, nuint mapBytes, out string? unavailable)
    {
        unavailable = null;
        int fd = (int)Libc.syscall1(Libc.SYS_memfd_secret, Libc.O_CLOEXEC);
        if (fd < 0)
        {
            unavailable = Libc.Describe(Marshal.GetLastPInvokeError());
            return null;
        }

        try
        {
            if (Libc.ftruncate(fd, (long)mapBytes) != 0)
            {
                throw Failure("ftruncate of the memfd_secret file", Marshal.GetLastPInvokeError(), mapBytes);
            }

            nint mapBase = Libc.mmap(0, mapBytes, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd, 0);
            if (mapBase == Libc.MAP_FAILED)
            {
                // The kernel charges secretmem against RLIMIT_MEMLOCK: EAGAIN means the limit is reached.
                int errno = Marshal.GetLastPInvokeError();
                if (Options.AllowUnlockedMemory && IsLimitError(errno))
                {
                    unavailable = $"mmap refused: {Describe(errno)}";
                    return null;
                }

                throw Failure("mmap of memfd_secret", errno, mapBytes);
            }

            // A shared mapping would be inherited by a forked child: keep it out.
            _ = Libc.madvise(mapBase, mapBytes, Libc.MADV_DONTFORK);
            _ = Libc.madvise(mapBase, mapBytes, Libc.MADV_DONTDUMP);
            var arena = new SecretArena(gate, slotPages, slotCount, SecretMemoryBacking.MemfdSecret, locked: true, Options.ProtectIdleSlots, mapBase, mapBytes);
            ProtectGuardsAndIdle(arena);
            return arena;
        }
        finally
        {
            _ = Libc.close(fd);
        }
    }

    private SecretArena MapLockedAnonymous(Lock gate, int slotPages, int slotCount, nuint mapBytes)
    {
        nint mapBase = Libc.mmap(0, mapBytes, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0);
        if (mapBase == Libc.MAP_FAILED)
        {
            throw Failure("mmap of a secret arena", Marshal.GetLastPInvokeError(), mapBytes);
        }

        if (Libc.madvise(mapBase, mapBytes, Libc.MADV_DONTDUMP) != 0 || Libc.madvise(mapBase, mapBytes, Libc.MADV_WIPEONFORK) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            _ = Libc.munmap(mapBase, mapBytes);
            throw new SecretMemoryException($"madvise(MADV_DONTDUMP/MADV_WIPEONFORK) failed: {Libc.Describe(errno)}.");
        }

        nuint slotBytes = (nuint)(slotPages * SecretArena.PageSize);
        bool locked = true;
        for (int i = 0; i < slotCount; i++)
        {
            if (Libc.mlock(SecretArena.SlotAddress(mapBase, slotPages, i), slotBytes) == 0)
            {
                continue;
            }

            int errno = Marshal.GetLastPInvokeError();
            if (!Options.AllowUnlockedMemory)
            {
                _ = Libc.munmap(mapBase, mapBytes);
                throw Failure("mlock of a secret arena", errno, slotBytes * (nuint)slotCount);
            }

            locked = false;
            for (int j = 0; j < i; j++)
            {
                _ = Libc.munlock(SecretArena.SlotAddress(mapBase, slotPages, j), slotBytes);
            }

            if (!_warnedUnlocked)
            {
                _warnedUnlocked = true;
                Warn($"ActorVault: secret memory is NOT locked and may be swapped: {Describe(errno)} AllowUnlockedMemory is set, so continuing.");
            }

            break;
        }

        var arena = new SecretArena(gate, slotPages, slotCount, SecretMemoryBacking.LockedAnonymous, locked, Options.ProtectIdleSlots, mapBase, mapBytes);
        ProtectGuardsAndIdle(arena);
        return arena;
    }

    private void ProtectGuardsAndIdle(SecretArena arena)
    {
        int page = SecretArena.PageSize;
        for (int i = 0; i <= arena.SlotCount; i++)
        {
            nint guard = i == 0 ? arena.Base : arena.SlotAddress(i - 1) + (nint)arena.SlotBytes;
            if (Libc.mprotect(guard, (nuint)page, Libc.PROT_NONE) != 0)
            {
                throw new SecretMemoryException($"mprotect of a guard page failed: {Libc.Describe(Marshal.GetLastPInvokeError())}.");
            }
        }

        if (!Options.ProtectIdleSlots)
        {
            return;
        }

        // Idle slots start inaccessible; TryTakeSlot opens one, ReturnSlot closes it again.
        for (int i = 0; i < arena.SlotCount; i++)
        {
            if (Libc.mprotect(arena.SlotAddress(i), arena.SlotBytes, Libc.PROT_NONE) != 0)
            {
                throw new SecretMemoryException($"mprotect of an idle slot failed: {Libc.Describe(Marshal.GetLastPInvokeError())}.");
            }
        }
    }

    private void Warn(string message) => (Options.Warning ?? (m => Console.Error.WriteLine(m)))(message);

    private static string Describe(int errno)
    {
        var limit = default(Libc.RLimit);
        _ = Libc.getrlimit(Libc.RLIMIT_MEMLOCK, &limit);
        string current = limit.Current == Libc.RLIM_INFINITY ? "unlimited" : $"{limit.Current} bytes";
        return IsLimitError(errno)
            ? $"{Libc.Describe(errno)}; RLIMIT_MEMLOCK is {current}."
            : $"{Libc.Describe(errno)}.";
    }

    /// <summary>The errnos with which mlock and secretmem report RLIMIT_MEMLOCK.</summary>
    private static bool IsLimitError(int errno) => errno is Libc.ENOMEM or Libc.EPERM or Libc.EAGAIN;

    private static SecretMemoryException Failure(string what, int errno, nuint bytes)
    {
        string fix = IsLimitError(errno)
            ? " Raise the locked-memory limit (ulimit -l, or LimitMEMLOCK= in a systemd unit, or grant CAP_IPC_LOCK), or set SecretMemoryOptions.AllowUnlockedMemory to continue unlocked."
            : string.Empty;
        return new SecretMemoryException($"{what} ({bytes} bytes) failed: {Describe(errno)}{fix}");
    }

    private sealed class SizeClass
    {
        internal Lock Gate { get; } = new();

        internal List<SecretArena> Arenas { get; } = [];
    }
}
