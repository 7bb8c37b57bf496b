using System.Security.Cryptography;
using ActorVault.Memory;
using ActorVault.Memory.Interop;
using BenchmarkDotNet.Attributes;

namespace ActorVault.Benchmarks;

/// <summary>
/// One 64-byte secret's life: acquire a slot, write it, zero it, release it. Compared with the naive
/// design of one mmap + mlock per secret (the baseline), for each backing, with and without
/// PROT_NONE on idle slots.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public unsafe class SecretSlotBenchmarks
{
    private const int SecretBytes = 64;
    private SecretMemoryPool _pool = null!;

    [Params(SecretMemoryBacking.MemfdSecret, SecretMemoryBacking.LockedAnonymous)]
    public SecretMemoryBacking Backing { get; set; }

    [Params(true, false)]
    public bool ProtectIdleSlots { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _pool = new SecretMemoryPool(new SecretMemoryOptions { Backing = Backing, ProtectIdleSlots = ProtectIdleSlots });
        _pool.Allocate(SecretBytes).Dispose(); // map the first arena outside the measurement
    }

    [Benchmark(Description = "slot: acquire+write+zero+release")]
    public int SlotCycle()
    {
        var secret = new SecretBuffer(_pool.Allocate(SecretBytes), SecretBytes);
        secret.Write((byte)0x5A, static (bytes, value) => bytes.Fill(value));
        int length = secret.Length;
        secret.Dispose(); // zeroes the slot and returns it
        return length;
    }

    [Benchmark(Baseline = true, Description = "baseline: mmap+mlock per secret")]
    public int MmapPerSecret()
    {
        nuint page = (nuint)Environment.SystemPageSize;
        nint p = Libc.mmap(0, page, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        _ = Libc.mlock(p, page);
        var span = new Span<byte>((void*)p, SecretBytes);
        span.Fill(0x5A);
        CryptographicOperations.ZeroMemory(span);
        _ = Libc.munlock(p, page);
        _ = Libc.munmap(p, page);
        return SecretBytes;
    }
}
