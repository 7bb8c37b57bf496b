using System.Globalization;

namespace ActorVault.Testing;

/// <summary>Fields of <c>/proc/PID/status</c> that the resource-bound tests watch.</summary>
public static class ProcStatus
{
    /// <summary>Number of threads of <paramref name="pid"/>.</summary>
    public static int Threads(int pid) => (int)Field(pid, "Threads:");

    /// <summary>Resident set size of <paramref name="pid"/>, in KiB.</summary>
    public static long RssKiB(int pid) => Field(pid, "VmRSS:");

    private static long Field(int pid, string name) =>
        long.Parse(
            File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(name, StringComparison.Ordinal))[name.Length..]
                .Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[0],
            CultureInfo.InvariantCulture);
}
