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

    /// <summary>The variable that closes the .NET diagnostic port; only read when the runtime starts.</summary>
    public const string DiagnosticsVariable = "DOTNET_EnableDiagnostics";

    /// <summary>
    /// Variables that make the runtime write a dump on a crash (<c>createdump</c> ignores
    /// <c>MADV_DONTDUMP</c>), or load code or a diagnostics channel into the process. Read only when the
    /// runtime starts, so <see cref="ReexecWithoutDiagnostics"/> removes them by re-exec.
    /// </summary>
    public static IReadOnlyList<string> DangerousRuntimeVariables { get; } =
    [
        "DOTNET_DbgEnableMiniDump", "COMPlus_DbgEnableMiniDump", "DOTNET_DbgMiniDumpType", "COMPlus_DbgMiniDumpType",
        "DOTNET_DbgMiniDumpName", "COMPlus_DbgMiniDumpName", "DOTNET_EnableCrashReport", "COMPlus_EnableCrashReport",
        "DOTNET_CreateDumpDiagnostics", "DOTNET_STARTUP_HOOKS", "CORECLR_ENABLE_PROFILING", "CORECLR_PROFILER",
        "CORECLR_PROFILER_PATH", "CORECLR_PROFILER_PATH_64", "DOTNET_DiagnosticPorts", "DOTNET_EnableEventPipe",
        "COMPlus_EnableEventPipe", "LD_PRELOAD", "LD_AUDIT", "COMPlus_EnableDiagnostics",
    ];

    /// <summary>
    /// When this process started with its .NET diagnostic port open, or with a variable of
    /// <see cref="DangerousRuntimeVariables"/> (crash dumps, startup hooks, profilers, preloads), replaces
    /// it (<c>execve(2)</c>, same pid, same descriptors and terminal) by itself without them and with
    /// <c>DOTNET_EnableDiagnostics=0</c>: the runtime reads them only when it starts. Returns only when
    /// nothing was to be done, or with the reason the re-exec failed (the caller warns and goes on).
    /// </summary>
    /// <param name="arguments">This process's arguments after the program (as <c>Main</c> got them).</param>
    public static unsafe string? ReexecWithoutDiagnostics(IReadOnlyList<string> arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        if (Environment.GetEnvironmentVariable(DiagnosticsVariable) == "0" && !DangerousRuntimeVariables.Any(v => Environment.GetEnvironmentVariable(v) is not null))
        {
            return null;
        }

        string? executable = Environment.ProcessPath;
        if (executable is null)
        {
            return "the executable's path is unknown";
        }

        // Public data only (the command line and environment): no secret exists yet.
        var argv = new List<string> { executable };
        string[] original = Environment.GetCommandLineArgs();
        if (Path.GetFileNameWithoutExtension(executable) == "dotnet" && original.Length > 0)
        {
            argv.Add(original[0]); // the application's .dll, after the muxer
        }

        argv.AddRange(arguments);
        var envp = new List<string>();
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            string key = (string)e.Key;
            if (key != DiagnosticsVariable && !DangerousRuntimeVariables.Contains(key))
            {
                envp.Add($"{key}={e.Value}");
            }
        }

        envp.Add($"{DiagnosticsVariable}=0");
#pragma warning disable RS0030 // public data: the command line and the environment, never a secret
        nint[] strings = [.. argv.Concat(envp).Select(Marshal.StringToCoTaskMemUTF8)];
#pragma warning restore RS0030
        byte** args = stackalloc byte*[argv.Count + 1];
        byte** env = stackalloc byte*[envp.Count + 1];
        for (int i = 0; i < argv.Count; i++)
        {
            args[i] = (byte*)strings[i];
        }

        for (int i = 0; i < envp.Count; i++)
        {
            env[i] = (byte*)strings[argv.Count + i];
        }

        args[argv.Count] = null;
        env[envp.Count] = null;
        RemoveOwnDiagnosticSocket();
        _ = Libc.execve(args[0], args, env);
        int errno = Marshal.GetLastPInvokeError();
        foreach (nint s in strings)
        {
            Marshal.FreeCoTaskMem(s);
        }

        return $"execve failed: {Libc.Describe(errno)}";
    }

    /// <summary>
    /// The runtime's diagnostic socket file of this pid (<c>dotnet-diagnostic-PID-…-socket</c> in the
    /// temporary directory): exec closes the listening descriptor but leaves the file, which would
    /// still advertise a port; removed just before the re-exec.
    /// </summary>
    private static void RemoveOwnDiagnosticSocket()
    {
        try
        {
            foreach (string file in Directory.EnumerateFiles(Path.GetTempPath(), $"dotnet-diagnostic-{Environment.ProcessId}-*-socket"))
            {
                File.Delete(file);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: the descriptor is closed by exec in any case.
        }
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
