using System.Globalization;

namespace ActorVault.Testing;

/// <summary>Fields of <c>/proc/PID/status</c> that the resource-bound tests watch.</summary>
public static class ProcStatus
{
    /// <summary>Number of threads of <paramref name="pid"/>.</summary>
    public static int Threads(int pid) => (int)Field(pid, "Threads:");

    /// <summary>Resident set size of <paramref name="pid"/>, in KiB.</summary>
    public static long RssKiB(int pid) => Field(pid, "VmRSS:");

    /// <summary>
    /// The .NET diagnostic socket that process <paramref name="pid"/> would listen on:
    /// <c>dotnet-diagnostic-PID-KEY-socket</c> in the temporary directory, KEY being the process's start
    /// time in clock ticks (field 22 of <c>/proc/PID/stat</c>). The pid alone is not enough: killed
    /// processes leave their socket files behind, and pids are reused.
    /// </summary>
    public static string DiagnosticSocketPath(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return Path.Combine(Path.GetTempPath(), $"dotnet-diagnostic-{pid}-{fields[19]}-socket");
    }

    private static long Field(int pid, string name) =>
        long.Parse(
            File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(name, StringComparison.Ordinal))[name.Length..]
                .Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[0],
            CultureInfo.InvariantCulture);
}
