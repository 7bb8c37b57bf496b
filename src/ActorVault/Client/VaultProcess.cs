using System.Diagnostics;
using System.IO.Pipes;
using System.Runtime.InteropServices;
using Akka.Actor;
using ActorVault.Memory;
using ActorVault.Memory.Readers;
using ActorVault.Vault;

namespace ActorVault.Client;

/// <summary>What the supervisor needs to start a vault child. Tests substitute a fake.</summary>
internal interface IVaultProcessLauncher
{
    /// <summary>
    /// Starts the child, writes <paramref name="bootstrap"/> to its stdin (which then stays open), and
    /// reports <see cref="VaultProcessEvent"/>s to <paramref name="notify"/>. Throws
    /// <see cref="VaultStartupException"/> when the child cannot be started at all.
    /// </summary>
    IVaultProcess Launch(SupervisorSettings settings, SecretBuffer bootstrap, VaultEventSink notify);
}

/// <summary>
/// Where a vault child's events go: the supervisor, or — when the child is started before the link
/// actor system exists (to overlap the two startups) — a buffer that is handed over in order once the
/// supervisor attaches.
/// </summary>
internal sealed class VaultEventSink
{
    private readonly Lock _gate = new();
    private IActorRef? _target;
    private List<object>? _buffer = [];

    public static VaultEventSink For(IActorRef target)
    {
        var sink = new VaultEventSink();
        sink.Attach(target);
        return sink;
    }

    public void Tell(object message)
    {
        lock (_gate)
        {
            if (_target is null)
            {
                _buffer!.Add(message);
                return;
            }

            _target.Tell(message);
        }
    }

    public void Attach(IActorRef target)
    {
        lock (_gate)
        {
            _target = target;
            foreach (object message in _buffer ?? [])
            {
                target.Tell(message);
            }

            _buffer = null;
        }
    }
}

/// <summary>A vault child started before its supervisor existed, with its session keys.</summary>
internal sealed record PreLaunchedVault(IVaultProcess Process, Crypto.SessionKeys Keys, VaultEventSink Sink);

/// <summary>A running vault child.</summary>
internal interface IVaultProcess : IDisposable
{
    int Pid { get; }

    /// <summary>Closes the child's stdin: the vault zeroes everything and exits within a second.</summary>
    void CloseInput();

    /// <summary>SIGTERM: the vault zeroes, shuts down and exits with 143.</summary>
    void Terminate();

    /// <summary>SIGKILL.</summary>
    void Kill();
}

/// <summary>Events about a vault child, sent to the supervisor.</summary>
internal abstract record VaultProcessEvent(int Pid);

/// <summary>The child printed its READY line with the guardian's address.</summary>
internal sealed record VaultProcessReady(int Pid, string GuardianPath, string? TlsDigest = null) : VaultProcessEvent(Pid);

/// <summary>One line of the child's stderr (its log).</summary>
internal sealed record VaultProcessLog(int Pid, string Line) : VaultProcessEvent(Pid);

/// <summary>The child exited; <see cref="Describe"/> names the exit code or signal.</summary>
internal sealed record VaultProcessExited(int Pid, int ExitCode) : VaultProcessEvent(Pid)
{
    public string Describe() => ExitCode > 128 && ExitCode < 128 + 65
        ? $"vault process {Pid} was killed by signal {ExitCode - 128} ({SignalName(ExitCode - 128)})"
        : $"vault process {Pid} exited with code {ExitCode}";

    private static string SignalName(int signal) => signal switch
    {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        15 => "SIGTERM",
        _ => $"signal {signal}",
    };
}

/// <summary>Starts the real <c>actorvault vault</c> child process.</summary>
internal sealed class VaultProcessLauncher : IVaultProcessLauncher
{
    public static readonly VaultProcessLauncher Instance = new();

    private readonly IReadOnlyDictionary<string, string> _extraEnvironment;

    public VaultProcessLauncher()
        : this(new Dictionary<string, string>())
    {
    }

    /// <summary>For tests: extra environment variables for the vault child (test-only settings).</summary>
    internal VaultProcessLauncher(IReadOnlyDictionary<string, string> extraEnvironment) => _extraEnvironment = extraEnvironment;

    /// <summary>Environment variables that could inject code or diagnostics into the vault; removed.</summary>
    private static readonly string[] RemovedVariables =
    [
        "DOTNET_STARTUP_HOOKS", "CORECLR_ENABLE_PROFILING", "CORECLR_PROFILER", "CORECLR_PROFILER_PATH",
        "CORECLR_PROFILER_PATH_64", "DOTNET_DiagnosticPorts", "DOTNET_DbgEnableMiniDump", "COMPlus_DbgEnableMiniDump",
        "DOTNET_EnableEventPipe", "LD_PRELOAD", "LD_LIBRARY_PATH", "MALLOC_CHECK_",
    ];

    public IVaultProcess Launch(SupervisorSettings settings, SecretBuffer bootstrap, VaultEventSink notify)
    {
        (string fileName, string[] prefix) = ResolveExecutable(settings.Executable);
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in prefix)
        {
            start.ArgumentList.Add(a);
        }

        start.ArgumentList.Add("vault");
        start.ArgumentList.Add("--rsa-bits");
        start.ArgumentList.Add(settings.RsaBits.ToString(System.Globalization.CultureInfo.InvariantCulture));
        start.ArgumentList.Add("--secure-heap");
        start.ArgumentList.Add(settings.SecureHeapBytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (settings.Tls is not null)
        {
            start.ArgumentList.Add("--mutual-tls");
        }
        foreach (string name in RemovedVariables)
        {
            start.Environment.Remove(name);
        }

        foreach ((string key, string value) in _extraEnvironment)
        {
            start.Environment[key] = value;
        }

        // The diagnostics IPC socket would survive PR_SET_DUMPABLE=0 and allow dumps; turn it off.
        start.Environment["DOTNET_EnableDiagnostics"] = "0";

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var child = new RealVaultProcess(process, notify);
        try
        {
            if (!process.Start())
            {
                throw new VaultStartupException($"The vault executable '{fileName}' did not start.");
            }
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            process.Dispose();
            throw new VaultStartupException($"The vault executable '{fileName}' cannot be started: {e.Message}.");
        }

        try
        {
            child.Started();
            var pipe = (PipeStream)process.StandardInput.BaseStream;
            bool added = false;
            pipe.SafePipeHandle.DangerousAddRef(ref added);
            try
            {
                SecretDescriptors.WriteAll((int)pipe.SafePipeHandle.DangerousGetHandle(), bootstrap);
                if (settings.Tls is not null)
                {
                    // The certificate the vault must pin: public, but only trustworthy on this pipe.
                    pipe.Write(settings.Tls.Digest);
                    pipe.Flush();
                }
            }
            finally
            {
                if (added)
                {
                    pipe.SafePipeHandle.DangerousRelease();
                }
            }
        }
        catch (IOException e)
        {
            // The child died before reading its bootstrap; its exit (with stderr) is reported as usual.
            notify.Tell(new VaultProcessLog(process.Id, $"(supervisor) writing the bootstrap secret failed: {e.Message}"));
        }
#pragma warning disable CA1031 // anything else: never leave a started child behind
        catch (Exception e)
#pragma warning restore CA1031
        {
            child.Kill();
            child.Dispose();
            throw new VaultStartupException($"The vault child could not be handed its bootstrap secret ({e.GetType().Name}: {e.Message}); it was killed.");
        }

        return child;
    }

    /// <summary>Folder of the vault executable that the ActorVault.Hosting package copies into the application's output.</summary>
    internal const string PackagedVaultFolder = "actorvault-vault";

    /// <summary>Finds the vault executable: the setting, this very executable, actorvault(.dll) next to the application, or the packaged copy.</summary>
    internal static (string FileName, string[] Prefix) ResolveExecutable(string configured)
    {
        if (!string.IsNullOrEmpty(configured))
        {
            string full = Path.GetFullPath(configured);
            if (!File.Exists(full))
            {
                throw new VaultStartupException($"The vault executable '{full}' (actorvault.supervisor.executable) does not exist.");
            }

            return full.EndsWith(".dll", StringComparison.Ordinal) ? (DotnetHost(), [full]) : (full, []);
        }

        string? self = Environment.ProcessPath;
        if (self is not null && Path.GetFileName(self) is "actorvault" or "ActorVault.Host")
        {
            return (self, []);
        }

        string baseDir = AppContext.BaseDirectory;
        string apphost = Path.Combine(baseDir, "actorvault");
        foreach (string candidate in (string[])[apphost, Path.Combine(baseDir, "ActorVault.Host")])
        {
            if (File.Exists(candidate))
            {
                return (candidate, []);
            }
        }

        string dll = Path.Combine(baseDir, "ActorVault.Host.dll");
        if (File.Exists(dll))
        {
            return (DotnetHost(), [dll]);
        }

        // The copy that the ActorVault.Hosting package puts in the application's output.
        string packaged = Path.Combine(baseDir, PackagedVaultFolder, "ActorVault.Host.dll");
        if (File.Exists(packaged))
        {
            return (DotnetHost(), [packaged]);
        }

        throw new VaultStartupException($"The vault executable was not found: none of '{apphost}', '{dll}' or '{packaged}' exists. Reference the ActorVault.Host project (or package), or set actorvault.supervisor.executable (VaultClientOptions.ExecutablePath).");
    }

    private static string DotnetHost()
    {
        string root = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        string host = Path.Combine(root, "dotnet");
        return File.Exists(host) ? host : "dotnet";
    }

    private sealed class RealVaultProcess : IVaultProcess
    {
        private readonly Process _process;
        private readonly VaultEventSink _notify;
        private int _pid;
        private int _exitReported;

        public RealVaultProcess(Process process, VaultEventSink notify)
        {
            _process = process;
            _notify = notify;
            _process.OutputDataReceived += (_, e) => OnStdout(e.Data);
            _process.ErrorDataReceived += (_, e) => OnStderr(e.Data);
            _process.Exited += (_, _) => OnExited();
        }

        public int Pid => CurrentPid();

        public void Started()
        {
            _pid = _process.Id;
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public void CloseInput()
        {
            try
            {
                _process.StandardInput.Close();
            }
            catch (IOException)
            {
                // Already gone.
            }
        }

        public void Terminate()
        {
            int pid = CurrentPid();
            if (pid > 0 && !_process.HasExited)
            {
                _ = ProcessSignals.Send(pid, ProcessSignals.Terminate);
            }
        }

        public void Kill()
        {
            try
            {
                _process.Kill(entireProcessTree: false);
            }
            catch (InvalidOperationException)
            {
                // Already exited.
            }
        }

        public void Dispose()
        {
            CloseInput();
            _process.Dispose();
        }

        private void OnStdout(string? line)
        {
            if (line is null || !line.StartsWith(VaultHost.ReadyMarker + " ", StringComparison.Ordinal))
            {
                return; // Akka's own startup output and anything else: not ours.
            }

            int at = line.IndexOf(" guardian=", StringComparison.Ordinal);
            if (at > 0)
            {
                int tls = line.IndexOf(" tls=", StringComparison.Ordinal);
                string? digest = tls > 0 && tls < at ? line[(tls + " tls=".Length)..at] : null;
                _notify.Tell(new VaultProcessReady(CurrentPid(), line[(at + " guardian=".Length)..].Trim(), digest));
            }
        }

        private void OnStderr(string? line)
        {
            if (line is not null)
            {
                _notify.Tell(new VaultProcessLog(CurrentPid(), line));
            }
        }

        private void OnExited()
        {
            if (Interlocked.Exchange(ref _exitReported, 1) == 0)
            {
                int code;
                try
                {
                    // Let the async readers drain the last stderr lines before reporting the exit.
                    _process.WaitForExit();
                    code = _process.ExitCode;
                }
                catch (InvalidOperationException)
                {
                    code = -1;
                }

                _notify.Tell(new VaultProcessExited(CurrentPid(), code));
            }
        }

        /// <summary>The pid even when an event fires before <see cref="Started"/> recorded it.</summary>
        private int CurrentPid()
        {
            if (_pid != 0)
            {
                return _pid;
            }

            try
            {
                return _process.Id;
            }
            catch (InvalidOperationException)
            {
                return 0;
            }
        }
    }
}
