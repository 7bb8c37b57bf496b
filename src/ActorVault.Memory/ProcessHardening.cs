using System.Runtime.InteropServices;
using ActorVault.Memory.Interop;

namespace ActorVault.Memory;

/// <summary>What <see cref="ProcessHardening"/> found or set.</summary>
/// <param name="Dumpable">The kernel's PR_GET_DUMPABLE (false: no core dumps, no ptrace or /proc/PID/mem by same-user processes).</param>
/// <param name="CoreLimitBytes">RLIMIT_CORE soft limit (0: no core files).</param>
/// <param name="DiagnosticsDisabled">DOTNET_EnableDiagnostics=0 was in the environment at start (no diagnostics socket).</param>
/// <param name="Problems">What could not be applied, each with its errno; empty when fully hardened.</param>
public sealed record HardeningStatus(bool Dumpable, ulong CoreLimitBytes, bool DiagnosticsDisabled, IReadOnlyList<string> Problems)
{
    /// <summary>Not dumpable and no core files.</summary>
    public bool IsHardened => !Dumpable && CoreLimitBytes == 0;
}

/// <summary>
/// Hardens the current process before anything secret exists: <c>prctl(PR_SET_DUMPABLE, 0)</c> and
/// <c>RLIMIT_CORE</c> 0. The .NET diagnostics socket survives that; start secret-holding processes
/// with <c>DOTNET_EnableDiagnostics=0</c>.
/// </summary>
public static class ProcessHardening
{
    /// <summary>Applies the hardening and returns the resulting status.</summary>
    public static unsafe HardeningStatus Apply()
    {
        var problems = new List<string>();
        if (Libc.prctl(Libc.PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        {
            problems.Add($"prctl(PR_SET_DUMPABLE, 0) failed: {Libc.Describe(Marshal.GetLastPInvokeError())}");
        }

        var none = new Libc.RLimit { Current = 0, Maximum = 0 };
        if (Libc.setrlimit(Libc.RLIMIT_CORE, &none) != 0)
        {
            problems.Add($"setrlimit(RLIMIT_CORE, 0) failed: {Libc.Describe(Marshal.GetLastPInvokeError())}");
        }

        return Status(problems);
    }

    /// <summary>Reads the current status without changing anything.</summary>
    public static HardeningStatus Status() => Status([]);

    private static unsafe HardeningStatus Status(List<string> problems)
    {
        int dumpable = Libc.prctl(Libc.PR_GET_DUMPABLE, 0, 0, 0, 0);
        var core = default(Libc.RLimit);
        if (Libc.getrlimit(Libc.RLIMIT_CORE, &core) != 0)
        {
            problems.Add($"getrlimit(RLIMIT_CORE) failed: {Libc.Describe(Marshal.GetLastPInvokeError())}");
        }

        bool diagnosticsOff = Environment.GetEnvironmentVariable("DOTNET_EnableDiagnostics") == "0";
        return new HardeningStatus(dumpable != 0, core.Current, diagnosticsOff, problems);
    }
}
