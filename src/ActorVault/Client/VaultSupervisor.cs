using Akka.Actor;
using Akka.Event;
using ActorVault.Crypto;
using ActorVault.Memory;
using ActorVault.Protocol;
using ActorVault.Serialization;
using static ActorVault.Client.SupervisorProtocol;

namespace ActorVault.Client;

/// <summary>
/// Owns the vault child process (application side), in the mould of Akka's BackoffSupervisor: this
/// actor starts the process with a fresh bootstrap secret (handed over the proven link socket, see
/// <see cref="Transport.LinkHandshake"/>), owns the backoff and the state, and watches the process;
/// one <see cref="VaultRun"/> child per started process owns the handshake, the pending requests,
/// their timers and the heartbeat, and dies with its process. On death: every pending request fails
/// with <see cref="VaultUnavailableException"/> naming the exit code or signal, the session keys and
/// every tracked client-side buffer are zeroed, and the child is restarted with exponential backoff,
/// locked. A failure of a run stops it and restarts the vault; a failure of this actor restarts it
/// cleanly (its process is killed, its one-shot resources are gone, the backoff ledger survives).
/// States: Starting → Locked ⇄ Unlocked → Restarting → Starting …, Stopped.
/// </summary>
internal sealed partial class VaultSupervisor : ActorBase, IWithTimers
{
    private const int StderrTailLines = 20;
    private const string StartupTimer = "startup";

    private readonly SupervisorSettings _settings;
    private readonly IVaultProcessLauncher _launcher;
    private readonly ClientSecretTracker _tracker;
    private readonly Action<string>? _vaultLog;
    private readonly SupervisorView _view;
    private readonly SupervisorLedger _ledger;
    private readonly SessionKeyRing _ring;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly List<(Request Request, IActorRef ReplyTo)> _queued = [];
    private readonly List<IActorRef> _startWaiters = [];
    private readonly List<IActorRef> _stopWaiters = [];
    private readonly Queue<string> _stderrTail = new();
    private readonly Logging.AuditThrottle _refusals = new();

    private IVaultProcess? _process;
    private SessionKeys? _keys;
    private IActorRef? _run;
    private RunHandle? _runHandle;
    private VaultState _state = VaultState.Starting;
    private string _reason = "starting";
    private byte[] _publicKey = [];
    private bool _unlocked;
    private string? _killReason;
    private Exception? _startupFailure;
    private string _guardianPath = string.Empty;

    public VaultSupervisor(SupervisorSettings settings, IVaultProcessLauncher launcher, ClientSecretTracker tracker, Action<string>? vaultLog, SupervisorView view, SupervisorLedger ledger)
    {
        _settings = settings;
        _launcher = launcher;
        _tracker = tracker;
        _vaultLog = vaultLog;
        _view = view;
        _ledger = ledger;
        _ring = SessionKeyRing.For(Context.System);
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>
    /// The ledger (backoff history, the one pre-launched child) is made here, once, so that every
    /// incarnation of the actor shares it: a restarted supervisor launches anew instead of reusing what
    /// its predecessor consumed.
    /// </summary>
    public static Props Props(SupervisorSettings settings, IVaultProcessLauncher launcher, ClientSecretTracker tracker, Action<string>? vaultLog = null, SupervisorView? view = null, PreLaunchedVault? preLaunched = null)
    {
        var ledger = new SupervisorLedger(preLaunched);
        SupervisorView shared = view ?? new SupervisorView();
        return Akka.Actor.Props.Create(() => new VaultSupervisor(settings, launcher, tracker, vaultLog, shared, ledger));
    }

    private VaultState RunningState => _unlocked ? VaultState.Unlocked : VaultState.Locked;

    /// <summary>A failed run is stopped (what it held is failed and dropped); its process is then killed and restarted.</summary>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(e =>
    {
        _runHandle?.EndWith(new VaultUnavailableException($"The vault connection failed ({e.GetType().Name}: {e.Message}); the vault restarts locked.", VaultState.Restarting));
        _log.Error(e, "The vault run failed; its vault is killed and restarted.");
        return Directive.Stop;
    });

    protected override void PreStart()
    {
        if (_ledger.Fault is { } fault)
        {
            // A restart of this actor after a failure: the vault it had is gone; come back through the backoff.
            _ledger.Fault = null;
            if (_ledger.EverStarted)
            {
                ScheduleRestart($"the vault supervisor failed ({fault})");
            }
            else
            {
                FinalStartupFailure($"the vault supervisor failed before the vault started ({fault})");
            }

            return;
        }

        Launch();
    }

    protected override void PreRestart(Exception reason, object message)
    {
        _ledger.Fault = $"{reason.GetType().Name}: {reason.Message}";
        _log.Error(reason, "The vault supervisor failed; it restarts and its vault with it.");
        Release(new VaultUnavailableException($"The vault supervisor failed ({_ledger.Fault}); the vault restarts locked.", VaultState.Restarting), VaultState.Restarting);
        foreach (IActorRef child in Context.GetChildren())
        {
            Context.Stop(child);
        }
    }

    protected override void PostStop()
    {
        _ = _ledger.TakePreLaunched()?.Discard();
        Release(new VaultUnavailableException("The vault client was stopped.", VaultState.Stopped), VaultState.Stopped);
        foreach (IActorRef waiter in _stopWaiters)
        {
            waiter.Tell(new Stopped("the vault client was stopped"));
        }

        _stopWaiters.Clear();
    }

    /// <summary>Ends this incarnation: kills the process, zeroes the session, fails everything waiting.</summary>
    private void Release(Exception failure, VaultState state)
    {
        _process?.Kill();
        _process?.Dispose();
        _process = null;
        EndSession(failure.Message); // zero first, then let the run fail what it held
        EndRun(failure);
        FailQueued(failure);
        AnswerStartWaiters(failure);
        _state = state;
        _view.Current = Snapshot();
    }

    protected override bool Receive(object message) => Starting(message);

    // ---------------------------------------------------------------- states

    private bool Starting(object message)
    {
        switch (message)
        {
            case VaultProcessReady ready when _run is not null && ready.Pid == _process?.Pid:
                _guardianPath = ready.GuardianPath;
                _run.Forward(ready);
                return true;
            case RunReady ready when Sender.Equals(_run):
                Started(ready.Welcome);
                return true;
            case RunFailed failed when Sender.Equals(_run):
                StartFailed(failed.Why);
                return true;
            case StartupTimedOut:
                StartFailed(_guardianPath.Length == 0
                    ? $"the vault did not connect to its link socket and prove itself (READY) within {_settings.StartupTimeout.TotalSeconds:0.#} s"
                    : $"the vault printed READY ({_guardianPath}) but did not answer there within {_settings.StartupTimeout.TotalSeconds:0.#} s (address unreachable or not a vault)");
                return true;
            case Request when _queued.Count >= _settings.MaxPendingRequests:
                Sender.Tell(new Status.Failure(new VaultOperationException(VaultError.Busy, $"{_settings.MaxPendingRequests} requests are already waiting for the vault to start.")));
                return true;
            case Request request:
                _queued.Add((request, Sender));
                return true;
            default:
                return Common(message);
        }
    }

    private bool Running(object message)
    {
        switch (message)
        {
            case Request or Notify:
                _run!.Forward(message);
                return true;
            case RunStatus status when Sender.Equals(_run):
                _unlocked = status.Unlocked;
                _publicKey = status.PublicKey ?? _publicKey;
                Transition(RunningState, status.Reason, status.Force);
                status.ReplyTo?.Tell(status.Answer);
                return true;
            case RunUnresponsive unresponsive when Sender.Equals(_run) && _process is not null:
                _killReason = unresponsive.Why;
                _log.Error("The vault (pid {0}) is unresponsive ({1}); killing it.", _process.Pid, _killReason);
                _process.Kill();
                return true;
            default:
                return Common(message);
        }
    }

    /// <summary>The child was killed after a failed start; only its exit (or a fallback timer) moves on.</summary>
    private bool AwaitingExit(object message)
    {
        switch (message)
        {
            case Request:
                Sender.Tell(new Status.Failure(new VaultUnavailableException($"The vault is being restarted ({_killReason}).", VaultState.Restarting)));
                return true;
            case ExitWaitTimedOut when _process is not null:
                _log.Error("The vault (pid {0}) did not exit within 10 s of SIGKILL; giving up on it.", _process.Pid);
                Died(new VaultProcessExited(_process.Pid, -1));
                return true;
            default:
                return Common(message);
        }
    }

    private bool Restarting(object message)
    {
        switch (message)
        {
            case LaunchTick:
                Launch();
                return true;
            case Request:
                Sender.Tell(new Status.Failure(new VaultUnavailableException($"The vault is restarting ({_reason}); it will come back locked.", VaultState.Restarting)));
                return true;
            default:
                return Common(message);
        }
    }

    private bool StoppedState(object message)
    {
        switch (message)
        {
            case Request:
                Sender.Tell(new Status.Failure(Unavailable()));
                return true;
            default:
                return Common(message);
        }
    }

    /// <summary>Messages handled the same way in every state.</summary>
    private bool Common(object message)
    {
        switch (message)
        {
            case VaultProcessEvent stale when stale.Pid != _process?.Pid:
                return true; // an event of an earlier child: the only place a pid is compared
            case VaultProcessLog log:
                VaultLog(log);
                return true;
            case VaultProcessExited exited:
                Died(exited);
                return true;
            case VaultEnvelope or RejectedEnvelope or Refused or ActorIdentity when _run is not null:
                _run.Forward(message); // the run answers for the vault's side, whoever addressed this actor
                return true;
            case VaultEnvelope or RejectedEnvelope or Refused or ActorIdentity:
                if (_refusals.Next(out long dropped))
                {
                    _log.Warning("Audit: dropped a {0} from {1}: no vault is connected ({2} so far).", message.GetType().Name, Sender.Path, dropped);
                }

                return true;
            case GetSnapshot:
                Sender.Tell(Snapshot());
                return true;
            case WhenStarted:
                if (_ledger.EverStarted && _state is not VaultState.Stopped)
                {
                    Sender.Tell(Snapshot());
                }
                else if (_state == VaultState.Stopped)
                {
                    Sender.Tell(new Status.Failure(_startupFailure ?? Unavailable()));
                }
                else
                {
                    _startWaiters.Add(Sender);
                }

                return true;
            case Stop stop:
                StopVault(stop);
                return true;
            case KillAfterGrace when _process is not null:
                _log.Warning("The vault (pid {0}) did not exit within the grace period after its stdin closed; sending SIGKILL.", _process.Pid);
                _process.Kill();
                return true;
            case TerminateAfterWait when _process is not null:
                _log.Warning("The vault (pid {0}) did not exit after its stdin closed; sending SIGTERM.", _process.Pid);
                _process.Terminate();
                return true;
            case Terminated terminated when terminated.ActorRef.Equals(_run):
                RunEnded();
                return true;
            case RunStatus { ReplyTo: { } replyTo } late:
                replyTo.Tell(late.Answer); // the vault did answer; its run ended since, so there is no state to record
                return true;
            case InjectFault { InRun: true } fault when _run is not null:
                _run.Forward(fault);
                return true;
            case InjectFault fault:
                throw new InvalidOperationException($"fault injected into the vault supervisor: {fault.Reason}");
            case Notify or Terminated or RunReady or RunFailed or RunStatus or RunUnresponsive or StartupTimedOut or KillAfterGrace or TerminateAfterWait or ExitWaitTimedOut:
                return true; // no vault to tell, or a run or timer that no longer counts
            default:
                return false;
        }
    }

    private VaultUnavailableException Unavailable() => new($"The vault is stopped: {_reason}.", VaultState.Stopped);

    private void VaultLog(VaultProcessLog log)
    {
        _stderrTail.Enqueue(log.Line);
        while (_stderrTail.Count > StderrTailLines)
        {
            _stderrTail.Dequeue();
        }

        if (_vaultLog is not null)
        {
            try
            {
                _vaultLog(log.Line);
            }
#pragma warning disable CA1031 // the application's log delegate failing must not take the vault down
            catch (Exception e)
#pragma warning restore CA1031
            {
                _log.Warning("The application's vault log delegate threw {0}: {1}", e.GetType().Name, e.Message);
            }
        }
        else
        {
            _log.Info("[vault {0}] {1}", log.Pid, log.Line);
        }
    }

    private void Transition(VaultState state, string reason, bool force = false)
    {
        VaultState previous = _state;
        _state = state;
        _reason = reason;
        _view.Current = Snapshot();
        if (previous != state || force)
        {
            Context.System.EventStream.Publish(new VaultStateChanged(previous, state, reason, _process?.Pid ?? 0, _ledger.Restarts));
        }
    }

    private Snapshot Snapshot() =>
        new(_state, _process?.Pid ?? 0, _publicKey, _ledger.Restarts, _reason, _keys?.Id, _guardianPath);
}
