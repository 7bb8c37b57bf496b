using System.Diagnostics;
using System.IO.Pipes;
using System.Runtime.InteropServices;
using Akka.Actor;
using ActorVault.Memory;
using ActorVault.Memory.Readers;
using System.Net.Sockets;
using ActorVault.Transport;

namespace ActorVault.Client;

/// <summary>Starts the real <c>actorvault vault</c> child process.</summary>
internal sealed class VaultProcessLauncher : IVaultProcessLauncher
{
    public static readonly VaultProcessLauncher Instance = new();

    private readonly IReadOnlyDictionary<string, string> _extraEnvironment;

    public VaultProcessLauncher()
        : this(new Dictionary<string, string>())
    {
    }

    /// <summary>For tests: called with the rendezvous socket's path after it is bound, before the child starts (to attack that window).</summary>
    internal Action<string>? BeforeStart { get; init; }

    /// <summary>For tests: extra environment variables for the vault child (test-only settings).</summary>
    internal VaultProcessLauncher(IReadOnlyDictionary<string, string> extraEnvironment) => _extraEnvironment = extraEnvironment;

    /// <summary>
    /// The only variables the vault child inherits (an allow-list: anything that could load code or
    /// diagnostics into it — LD_*, DOTNET_*/COMPlus_* runtime knobs, OPENSSL_*, GLIBC_TUNABLES — never
    /// passes). Locale and terminal for the password prompt, the systemd credential directory, and the
    /// one test hook that only makes the vault wait before it exits.
    /// </summary>
    internal static readonly string[] InheritedVariables =
    [
        "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TERM", "TZ", "CREDENTIALS_DIRECTORY", "ACTORVAULT_TEST_HOLD_AFTER_SHUTDOWN",
    ];

    public IVaultProcess Launch(SupervisorSettings settings, SecretBuffer bootstrap, VaultEventSink notify)
    {
        LinkSockets sockets = settings.Sockets ?? throw new VaultStartupException("The vault link has no socket registry (internal error: settings without Sockets).");
        (string fileName, string[] prefix) = ResolveExecutable(settings.Executable);
        VaultLinkListener listener = VaultLinkListener.Create();
        string linkName = LinkHandshake.NewLinkName();
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

        foreach (string a in (string[])["vault", "--link", listener.SocketPath, "--link-name", linkName, "--parent", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            start.ArgumentList.Add(a);
        }

        start.ArgumentList.Add("--rsa-bits");
        start.ArgumentList.Add(settings.RsaBits.ToString(System.Globalization.CultureInfo.InvariantCulture));
        start.ArgumentList.Add("--secure-heap");
        start.ArgumentList.Add(settings.SecureHeapBytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Dictionary<string, string?> inherited = InheritedVariables
            .Select(name => (name, value: Environment.GetEnvironmentVariable(name)))
            .Where(v => v.value is not null)
            .ToDictionary(v => v.name, v => v.value);
        start.Environment.Clear();
        foreach ((string key, string? value) in inherited)
        {
            start.Environment[key] = value;
        }

        foreach ((string key, string value) in _extraEnvironment)
        {
            start.Environment[key] = value;
        }

        // No diagnostics IPC socket (it would survive PR_SET_DUMPABLE=0 and allow dumps); the runtime
        // this very process runs on (an apphost would otherwise look for one by DOTNET_ROOT or PATH).
        start.Environment["DOTNET_EnableDiagnostics"] = "0";
        start.Environment["DOTNET_ROOT"] = DotnetRoot();

        BeforeStart?.Invoke(listener.SocketPath);
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var child = new RealVaultProcess(process, notify, sockets, linkName);
        try
        {
            if (!process.Start())
            {
                listener.Dispose();
                throw new VaultStartupException($"The vault executable '{fileName}' did not start.");
            }
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            listener.Dispose();
            process.Dispose();
            throw new VaultStartupException($"The vault executable '{fileName}' cannot be started: {e.Message}.");
        }

        child.Started();
        // The bootstrap goes to the child only after it connected, proved who it is, and hardened.
        SecretBuffer copy = bootstrap.Use(static bytes => SecretMemory.CopyFrom(bytes));
        _ = Task.Run(() => RendezvousAsync(settings, listener, child, copy, sockets, linkName, notify));
        return child;
    }

    private static async Task RendezvousAsync(SupervisorSettings settings, VaultLinkListener listener, RealVaultProcess child, SecretBuffer bootstrap, LinkSockets sockets, string linkName, VaultEventSink notify)
    {
        int pid = child.Pid;
        using (bootstrap)
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(child.ExitedToken))
        {
            timeout.CancelAfter(settings.StartupTimeout);
            Socket? socket = null;
            try
            {
                socket = await listener.AcceptChildAsync(pid, line => notify.Tell(new VaultProcessLog(pid, line)), timeout.Token).ConfigureAwait(false);
                _ = bootstrap.Use(socket, static (bytes, s) => s.Send(bytes));
                socket.ReceiveTimeout = (int)Math.Min(int.MaxValue, settings.StartupTimeout.TotalMilliseconds);
                if (LinkHandshake.ReceiveReady(socket, bootstrap, pid, linkName) is { } problem)
                {
                    throw new VaultStartupException(problem);
                }

                socket.ReceiveTimeout = 0;
                sockets.Register(linkName, socket);
                socket = null;
                if (child.ExitedToken.IsCancellationRequested)
                {
                    sockets.Forget(linkName); // it exited (or was disposed) while READY was checked
                    return;
                }

                notify.Tell(new VaultProcessReady(pid, LinkHandshake.GuardianPath(linkName)));
            }
            catch (OperationCanceledException)
            {
                // The child exited or never connected: its exit or the supervisor's startup timer reports it.
            }
#pragma warning disable CA1031 // any failure of the proof: the child is killed, never trusted
            catch (Exception e)
#pragma warning restore CA1031
            {
                notify.Tell(new VaultProcessLog(pid, $"(supervisor) the vault link handshake failed: {e.Message}; the vault child is killed"));
                child.Kill();
            }
            finally
            {
                socket?.Dispose();
                listener.Dispose();
            }
        }
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
        string host = Path.Combine(DotnetRoot(), "dotnet");
        return File.Exists(host) ? host : "dotnet";
    }

    /// <summary>The root of the .NET installation this process runs on.</summary>
    private static string DotnetRoot() => Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));

    private sealed class RealVaultProcess : IVaultProcess
    {
        private readonly Process _process;
        private readonly VaultEventSink _notify;
        private readonly LinkSockets _sockets;
        private readonly string _linkName;
        private readonly CancellationTokenSource _exited = new();
        private int _pid;
        private int _exitReported;

        /// <summary>Cancelled when the child exits (the rendezvous stops waiting for it).</summary>
        public CancellationToken ExitedToken => _exited.Token;

        public RealVaultProcess(Process process, VaultEventSink notify, LinkSockets sockets, string linkName)
        {
            _process = process;
            _notify = notify;
            _sockets = sockets;
            _linkName = linkName;
            _process.OutputDataReceived += static (_, e) => OnStdout(e.Data);
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
            _exited.Cancel(); // the rendezvous, if still running, stops and registers nothing
            _sockets.Forget(_linkName);
            _process.Dispose();
        }

        /// <summary>
        /// The vault's stdout carries nothing of ours (READY comes, authenticated, over the link socket);
        /// it is drained so that Akka's early console output can never block the child.
        /// </summary>
        private static void OnStdout(string? line) => _ = line;

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

                _exited.Cancel();
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
