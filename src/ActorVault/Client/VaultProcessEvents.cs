using Akka.Actor;
using ActorVault.Memory;

namespace ActorVault.Client;

/// <summary>What the supervisor needs to start a vault child. Tests substitute a fake.</summary>
internal interface IVaultProcessLauncher
{
    /// <summary>
    /// Starts the child, hands <paramref name="bootstrap"/> to it over its link socket once it proved
    /// itself (stdin stays open, carrying nothing: its end tells the child the parent is gone), and
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
internal sealed record PreLaunchedVault(IVaultProcess Process, Crypto.SessionKeys Keys, VaultEventSink Sink)
{
    /// <summary>Kills the unused child and zeroes its keys.</summary>
    public bool Discard()
    {
        Process.Kill();
        Process.Dispose();
        Keys.Dispose();
        return true;
    }
}

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

/// <summary>The child proved itself on its link socket (see <see cref="Transport.LinkHandshake"/>); the guardian's address on that link.</summary>
internal sealed record VaultProcessReady(int Pid, string GuardianPath) : VaultProcessEvent(Pid);

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
