using System.Runtime.InteropServices;
using ActorVault.Memory.Interop;

namespace ActorVault.Testing;

/// <summary>
/// What a process of the same user tries against another one: open its memory, list and open its
/// descriptors, read its environment, attach with ptrace. Each result is one line, <c>NAME=…</c>:
/// <c>opened</c>/<c>listed</c>/<c>read</c>/<c>attached</c> when the kernel let it through, <c>denied:…</c> when not.
/// </summary>
public static class SameUserAttack
{
    public static IReadOnlyList<string> Run(int pid)
    {
        var lines = new List<string>
        {
            Try("MEM", "opened", () => File.OpenHandle($"/proc/{pid}/mem", FileMode.Open, FileAccess.Read).Dispose()),
            Try("FDLIST", "listed", () => _ = Directory.GetFiles($"/proc/{pid}/fd")),
            Try("FD0", "opened", () => File.OpenHandle($"/proc/{pid}/fd/0", FileMode.Open, FileAccess.Read).Dispose()),
            Try("ENVIRON", "read", () => _ = File.ReadAllBytes($"/proc/{pid}/environ")),
        };
        long attached = Libc.ptrace(Libc.PTRACE_ATTACH, pid, 0, 0);
        if (attached == 0)
        {
            _ = Libc.ptrace(Libc.PTRACE_DETACH, pid, 0, 0);
            lines.Add("PTRACE=attached");
        }
        else
        {
            lines.Add($"PTRACE=denied:{Libc.Describe(Marshal.GetLastPInvokeError())}");
        }

        return lines;
    }

    private static string Try(string name, string success, Action action)
    {
        try
        {
            action();
            return $"{name}={success}";
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            return $"{name}=denied:{e.GetType().Name}";
        }
    }
}
