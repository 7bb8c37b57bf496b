using System.Collections.Concurrent;

namespace ActorVault.Memory.Tests;

public sealed class SecretMemoryTests
{
    [Theory]
    [InlineData(SecretMemoryBacking.MemfdSecret)]
    [InlineData(SecretMemoryBacking.LockedAnonymous)]
    public void Allocate_WithEachBacking_ReportsBackingAndLockedBytes(SecretMemoryBacking backing)
    {
        var pool = new SecretMemoryPool(new SecretMemoryOptions { Backing = backing, SlotsPerArena = 8 });
        SecretHandle handle = pool.Allocate(64);
        try
        {
            SecretMemoryStatus status = pool.Status();
            Assert.Equal(backing, status.Backing);
            Assert.True(status.IsLocked);
            Assert.Equal(8L * Environment.SystemPageSize, status.LockedBytes);
            Assert.Equal(1, status.ArenaCount);
            Assert.Equal(1, status.LiveBuffers);
            Assert.False(string.IsNullOrEmpty(status.BackingNote));
        }
        finally
        {
            handle.Dispose();
        }

        Assert.Equal(0, pool.Status().LiveBuffers);
    }

    [Fact]
    public void Status_DefaultOptions_PrefersMemfdSecretWhereAvailable()
    {
        var pool = new SecretMemoryPool(new SecretMemoryOptions());
        using SecretHandle handle = pool.Allocate(16);
        SecretMemoryStatus status = pool.Status();
        // The development machine and CI have memfd_secret (Linux 6.18); elsewhere the note says why not.
        Assert.True(status.Backing == SecretMemoryBacking.MemfdSecret || status.BackingNote.Contains("memfd_secret unavailable", StringComparison.Ordinal), status.BackingNote);
    }

    [Fact]
    public void Allocate_BeyondOneArena_AddsArenasInsteadOfOneMappingPerSecret()
    {
        var pool = new SecretMemoryPool(new SecretMemoryOptions { SlotsPerArena = 4 });
        var handles = Enumerable.Range(0, 10).Select(_ => pool.Allocate(32)).ToList();
        Assert.Equal(3, pool.Status().ArenaCount);
        Assert.Equal(10, handles.Select(h => h.DangerousGetHandle()).Distinct().Count());
        handles.ForEach(h => h.Dispose());
        SecretHandle again = pool.Allocate(32);
        Assert.Equal(3, pool.Status().ArenaCount); // slots are reused
        again.Dispose();
    }

    [Fact]
    public unsafe void Allocate_EndAlignsTheBufferAgainstTheGuardPage()
    {
        var pool = new SecretMemoryPool(new SecretMemoryOptions());
        using SecretHandle handle = pool.Allocate(100);
        long end = (long)handle.Pointer + 100;
        Assert.Equal(0, end % Environment.SystemPageSize);
    }

    [Fact]
    public void Allocate_LargerThanAPage_UsesMultiPageSlots()
    {
        var pool = new SecretMemoryPool(new SecretMemoryOptions());
        int size = (3 * Environment.SystemPageSize) + 5;
        using SecretHandle handle = pool.Allocate(size);
        var secret = new SecretBuffer(handle, size);
        secret.Write(0, static (bytes, _) => bytes.Fill(0xAB));
        Assert.True(secret.Use(static bytes => !bytes.ContainsAnyExcept((byte)0xAB)));
        Assert.Equal(4, handle.Arena.SlotPages);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(1024 * 1024 + 1)]
    public void Allocate_OutOfRange_IsRefused(int size)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => SecretMemory.Allocate(size));
    }

    [Fact]
    public void Options_Invalid_AreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SecretMemoryPool(new SecretMemoryOptions { SlotsPerArena = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SecretMemoryPool(new SecretMemoryOptions { Backing = (SecretMemoryBacking)9 }));
    }

    [Fact]
    public void Configure_AfterFirstUse_WithDifferentOptions_Throws()
    {
        using SecretBuffer secret = SecretMemory.Allocate(8);
        var error = Assert.Throws<InvalidOperationException>(() => SecretMemory.Configure(new SecretMemoryOptions { SlotsPerArena = 3 }));
        Assert.Contains("before the first secret", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Stress_ManyThreadsAllocateZeroFree_TrackerStaysConsistent(bool protectIdle)
    {
        var pool = new SecretMemoryPool(new SecretMemoryOptions { ProtectIdleSlots = protectIdle, SlotsPerArena = 16 });
        var corrupt = new ConcurrentBag<string>();
        const int threads = 8;
        const int rounds = 2_500;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            var held = new Queue<SecretBuffer>();
            for (int i = 0; i < rounds; i++)
            {
                int length = 1 + ((t * 31) + i) % 200;
                var secret = new SecretBuffer(pool.Allocate(length), length);
                byte mark = (byte)(1 + ((t + i) % 250));
                secret.Write(mark, static (bytes, m) => bytes.Fill(m));
                held.Enqueue(secret);
                if (held.Count > 4)
                {
                    SecretBuffer old = held.Dequeue();
                    if (!old.Use(static bytes => bytes.Length > 0 && !bytes.ContainsAnyExcept(bytes[0])))
                    {
                        corrupt.Add($"thread {t} round {i}");
                    }

                    old.Dispose();
                }
            }

            while (held.TryDequeue(out SecretBuffer? rest))
            {
                rest.Dispose();
            }
        });

        Assert.Empty(corrupt);
        Assert.Equal(0, pool.LiveBuffers);
        int free = pool.Arenas.Sum(a => a.FreeSlots);
        Assert.Equal(pool.Arenas.Sum(a => a.SlotCount), free);
    }
}
