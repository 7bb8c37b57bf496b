using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace ActorVault.Testing;

/// <summary>One line of /proc/PID/maps.</summary>
public sealed record MemoryRegion(ulong Start, ulong End, string Permissions, string Path)
{
    /// <summary>Size in bytes.</summary>
    public ulong Size => End - Start;

    /// <summary>Whether <paramref name="address"/> falls inside.</summary>
    public bool Contains(ulong address) => address >= Start && address < End;

    /// <inheritdoc />
    public override string ToString() => $"{Start:x}-{End:x} {Permissions} {Path}";
}

/// <summary>Copies of a planted secret found in one process.</summary>
public sealed record ScanResult(int Pid, int Utf8, int Utf16, int Base64, IReadOnlyList<ulong> Utf8Addresses, IReadOnlyList<MemoryRegion> Unreadable, long BytesScanned)
{
    /// <summary>All copies in every form.</summary>
    public int Total => Utf8 + Utf16 + Base64;

    /// <inheritdoc />
    public override string ToString() =>
        $"pid {Pid}: {Utf8} UTF-8, {Utf16} UTF-16LE, {Base64} base64 copies in {BytesScanned / (1024 * 1024)} MiB; {Unreadable.Count} unreadable regions";
}

/// <summary>
/// Reads another process's memory through /proc/PID/maps and /proc/PID/mem (needs root, or the same
/// user and a dumpable target) and counts a pattern in every readable region.
/// </summary>
public static class MemoryScanner
{
    private const int Chunk = 1 << 20;

    /// <summary>True when this process may read other processes' memory (effective uid 0).</summary>
    public static bool CanScan => ActorVault.Memory.Interop.Libc.geteuid() == 0;

    /// <summary>The reason scan tests are skipped where <see cref="CanScan"/> is false.</summary>
    public const string SkipReason = "memory scans read /proc/PID/mem of other processes, which needs root (CI runs as root)";

    /// <summary>Parses /proc/PID/maps.</summary>
    public static IReadOnlyList<MemoryRegion> Regions(int pid)
    {
        var regions = new List<MemoryRegion>();
        foreach (string line in File.ReadAllLines($"/proc/{pid}/maps"))
        {
            string[] parts = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            string[] range = parts[0].Split('-');
            regions.Add(new MemoryRegion(
                ulong.Parse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                ulong.Parse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                parts[1],
                parts.Length > 5 ? parts[5].Trim() : string.Empty));
        }

        return regions;
    }

    /// <summary>Tries to read <paramref name="count"/> bytes at <paramref name="address"/>; null when the kernel refuses.</summary>
    public static byte[]? TryRead(int pid, ulong address, int count)
    {
        using SafeFileHandle mem = File.OpenHandle($"/proc/{pid}/mem", FileMode.Open, FileAccess.Read);
        byte[] buffer = new byte[count];
        try
        {
            int n = RandomAccess.Read(mem, buffer, (long)address);
            return n == count ? buffer : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Counts <paramref name="pattern"/> in every readable region of process <paramref name="pid"/>.</summary>
    public static ScanResult Scan(int pid, SecretPattern pattern)
    {
        var unreadable = new List<MemoryRegion>();
        var utf8Addresses = new List<ulong>();
        int utf8 = 0, utf16 = 0, base64 = 0;
        long scanned = 0;
        int overlap = Math.Max(pattern.Utf16.Length, pattern.Base64.Max(b => b.Length)) - 1;
        using SafeFileHandle mem = File.OpenHandle($"/proc/{pid}/mem", FileMode.Open, FileAccess.Read);
        byte[] buffer = new byte[Chunk + overlap];
        foreach (MemoryRegion region in Regions(pid))
        {
            if (region.Permissions[0] != 'r' || region.Path == "[vsyscall]")
            {
                continue;
            }

            ulong position = region.Start;
            int carried = 0;
            while (position < region.End)
            {
                int want = (int)Math.Min((ulong)Chunk, region.End - position);
                int n;
                try
                {
                    n = RandomAccess.Read(mem, buffer.AsSpan(carried, want), (long)position);
                }
                catch (IOException)
                {
                    unreadable.Add(region);
                    break;
                }

                if (n <= 0)
                {
                    unreadable.Add(region);
                    break;
                }

                scanned += n;
                ReadOnlySpan<byte> window = buffer.AsSpan(0, carried + n);
                ulong windowStart = position - (ulong)carried;
                foreach (int at in Find(window, pattern.Utf8, carried))
                {
                    utf8++;
                    utf8Addresses.Add(windowStart + (ulong)at);
                }

                utf16 += Find(window, pattern.Utf16, carried).Count;
                foreach (byte[] b64 in pattern.Base64)
                {
                    base64 += Find(window, b64, carried).Count;
                }

                position += (ulong)n;
                carried = Math.Min(overlap, window.Length);
                window[^carried..].CopyTo(buffer);
            }
        }

        return new ScanResult(pid, utf8, utf16, base64, utf8Addresses, unreadable, scanned);
    }

    /// <summary>Matches that end past <paramref name="carried"/> (those before were counted in the previous chunk).</summary>
    private static List<int> Find(ReadOnlySpan<byte> haystack, ReadOnlySpan<byte> needle, int carried)
    {
        var found = new List<int>();
        int offset = 0;
        while (true)
        {
            int at = haystack[offset..].IndexOf(needle);
            if (at < 0)
            {
                return found;
            }

            if (offset + at + needle.Length > carried)
            {
                found.Add(offset + at);
            }

            offset += at + 1;
        }
    }
}
