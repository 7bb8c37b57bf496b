using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using ActorVault.Crypto;
using ActorVault.Memory;
using ActorVault.Memory.Readers;
using ActorVault.Protocol;
using ActorVault.Serialization;
using static ActorVault.Client.SupervisorProtocol;

namespace ActorVault.Client;

/// <summary>
/// Owns the vault child process (application side). Starts it with a fresh bootstrap secret (handed
/// over the proven link socket, see <see cref="Transport.LinkHandshake"/>), resolves and
/// authenticates the guardian once READY is checked, then relays requests as
/// sealed envelopes. Watches the process (exit is reported at once) and the vault's answers (an
/// authenticated heartbeat; a live process that stops answering is killed). On death: every pending
/// request fails with <see cref="VaultUnavailableException"/> naming the exit code or signal, the
/// session keys and every tracked client-side buffer are zeroed, and the child is restarted with
/// exponential backoff, locked. States: Starting → Locked ⇄ Unlocked → Restarting → Starting …, Stopped.
/// </summary>
internal sealed class VaultSupervisor : ActorBase, IWithTimers
{
    private const int StderrTailLines = 20;

    private readonly SupervisorSettings _settings;
    private readonly IVaultProcessLauncher _launcher;
    private readonly ClientSecretTracker _tracker;
    private readonly Action<string>? _vaultLog;
    private readonly SessionKeyRing _ring;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<Guid, Pending> _pending = [];
    private readonly List<(Request Request, IActorRef ReplyTo)> _queued = [];
    private readonly List<IActorRef> _startWaiters = [];
    private readonly List<IActorRef> _stopWaiters = [];
    private readonly Queue<string> _stderrTail = new();
    private readonly Queue<long> _restartTimes = new();
    private readonly HashSet<string> _secretNames = new(StringComparer.Ordinal);
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    private IVaultProcess? _process;
    private SessionKeys? _keys;
    private IActorRef? _vault;
    private VaultState _state = VaultState.Starting;
    private string _reason = "starting";
    private byte[] _publicKey = [];
    private int _attempt;
    private int _restarts;
    private bool _everStarted;
    private string? _killReason;
    /// <summary>
    /// When the oldest heartbeat still without an answer was sent (-1: none). The vault is judged by
    /// the pings it left unanswered, never by this actor's own timer running late on a loaded machine.
    /// </summary>
    private long _oldestUnansweredPing = -1;
    private long _pingSequence;
    private Exception? _startupFailure;
    private string _guardianPath = string.Empty;
    private ActorPath? _readyPath;
    private long _identifyId;
    private readonly SupervisorView _view;

    private PreLaunchedVault? _preLaunched;
    private readonly Logging.AuditThrottle _refusals = new();

    public VaultSupervisor(SupervisorSettings settings, IVaultProcessLauncher launcher, ClientSecretTracker tracker, Action<string>? vaultLog, SupervisorView view, PreLaunchedVault? preLaunched)
    {
        _preLaunched = preLaunched;
        _view = view;
        _settings = settings;
        _launcher = launcher;
        _tracker = tracker;
        _vaultLog = vaultLog;
        _ring = SessionKeyRing.For(Context.System);
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(SupervisorSettings settings, IVaultProcessLauncher launcher, ClientSecretTracker tracker, Action<string>? vaultLog = null, SupervisorView? view = null, PreLaunchedVault? preLaunched = null) =>
        Akka.Actor.Props.Create(() => new VaultSupervisor(settings, launcher, tracker, vaultLog, view ?? new SupervisorView(), preLaunched));

    private VaultState RunningState => _secretNames.Count > 0 ? VaultState.Unlocked : VaultState.Locked;

    protected override void PreStart() => Launch();

    protected override void PostStop()
    {
        Timers.CancelAll();
        if (Interlocked.Exchange(ref _preLaunched, null) is { } unused)
        {
            unused.Process.Kill();
            unused.Process.Dispose();
            unused.Keys.Dispose();
        }

        if (_process is not null)
        {
            _process.Kill();
            _process.Dispose();
            _process = null;
        }

        EndSession("vault client stopped");
        var stopped = new VaultUnavailableException("The vault client was stopped.", VaultState.Stopped);
        FailAll(stopped);
        AnswerStartWaiters(stopped);
        foreach (IActorRef waiter in _stopWaiters)
        {
            waiter.Tell(new Stopped("the vault client was stopped"));
        }

        _stopWaiters.Clear();
        _view.Current = Snapshot() with { State = VaultState.Stopped };
    }

    protected override bool Receive(object message) => Starting(message);

    // ---------------------------------------------------------------- states

    private bool Starting(object message)
    {
        switch (message)
        {
            case VaultProcessReady ready when ready.Pid == _process?.Pid && _readyPath is null:
                _guardianPath = ready.GuardianPath;
                if (!ActorPath.TryParse(ready.GuardianPath, out ActorPath? path) || (path.Address.Host is not null && path.Address.Protocol != $"akka.{Transport.LinkSocketTransport.Scheme}") || path.ToStringWithoutAddress() != "/user/vault")
                {
                    StartFailed($"the vault link reported an invalid guardian address ({ready.GuardianPath})");
                    return true;
                }

                _readyPath = path;
                // A random correlation id (a long: the primitive serializer carries it; a Guid would need JSON).
                _identifyId = Math.Abs(BitConverter.ToInt64(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8))) | 1;
                Context.ActorSelection(path).Tell(new Identify(_identifyId), Self);
                return true;
            case ActorIdentity identity when identity.MessageId is long id && id == _identifyId && _vault is null && _readyPath is not null:
                if (identity.Subject is null)
                {
                    StartFailed($"the vault printed READY ({_guardianPath}) but no guardian answers there (address unreachable)");
                    return true;
                }

                // Only the actor at the READY address may become the vault: anyone on loopback can send
                // an ActorIdentity to this actor, naming any reference.
                if (!identity.Subject.Path.Address.Equals(_readyPath.Address) || identity.Subject.Path.ToStringWithoutAddress() != "/user/vault")
                {
                    _log.Warning("Audit: ignored an identity naming {0}, not the vault at {1}.", identity.Subject.Path, _readyPath);
                    return true;
                }

                _vault = identity.Subject;
                SendToVault(new Hello(Guid.NewGuid(), Environment.ProcessId), Self, _settings.StartupTimeout);
                return true;
            case VaultEnvelope { Body: Welcome welcome } envelope when envelope.Session == _keys?.Id && _pending.Remove(welcome.RequestId, out Pending? hello):
                Timers.Cancel(hello.Request.RequestId);
                Started(welcome);
                return true;
            case StartupTimedOut timedOut when timedOut.Attempt == _attempt:
                StartFailed(_guardianPath.Length == 0
                    ? $"the vault did not connect to its link socket and prove itself (READY) within {_settings.StartupTimeout.TotalSeconds:0.#} s"
                    : $"the vault printed READY ({_guardianPath}) but did not answer there within {_settings.StartupTimeout.TotalSeconds:0.#} s (address unreachable or not a vault)");
                return true;
            case Request request:
                if (_queued.Count + _pending.Count >= _settings.MaxPendingRequests)
                {
                    Sender.Tell(new Status.Failure(new VaultOperationException(VaultError.Busy, $"{_settings.MaxPendingRequests} requests are already waiting for the vault to start.")));
                }
                else
                {
                    _queued.Add((request, Sender));
                }

                return true;
            default:
                return Common(message);
        }
    }

    private bool Running(object message)
    {
        switch (message)
        {
            case Request request:
                Relay(request, Sender);
                return true;
            case Notify notify:
                _vault!.Tell(new VaultEnvelope(_keys!.Id, notify.Notice), Self);
                return true;
            case HeartbeatTick:
                Heartbeat();
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
            case ExitWaitTimedOut timedOut when timedOut.Pid == _process?.Pid:
                _log.Error("The vault (pid {0}) did not exit within 10 s of SIGKILL; giving up on it.", timedOut.Pid);
                Died(new VaultProcessExited(timedOut.Pid, -1));
                return true;
            case VaultEnvelope or ActorIdentity or StartupTimedOut or VaultProcessReady:
                return true; // late answers from the child being killed
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
            case VaultEnvelope envelope when envelope.Session == _keys?.Id:
                FromVault(envelope.Body);
                return true;
            case VaultEnvelope envelope:
                if (_refusals.Next(out long dropped))
                {
                    _log.Warning("Audit: dropped an envelope of another session ({0}) from {1} ({2} refusals so far).", envelope.Session, Sender.Path, dropped);
                }

                return true;
            case RejectedEnvelope rejected:
                if (_refusals.Next(out long refusedCount))
                {
                    _log.Warning("Audit: refused an unauthenticated message from {0}: {1} ({2} refusals so far).", Sender.Path, Logging.LogRedaction.Escape(rejected.Reason), refusedCount);
                }

                return true;
            case Refused refused when _state == VaultState.Stopped:
                // A heartbeat or notice that crossed the vault's shutdown (its session keys are already zeroed).
                _log.Debug("The stopping vault refused a message: {0}.", refused.Reason);
                return true;
            case Refused refused:
                if (_refusals.Next(out long vaultRefusals))
                {
                    _log.Warning("The vault refused a message: {0} ({1} refusals so far).", Logging.LogRedaction.Escape(refused.Reason), vaultRefusals);
                }

                return true;
            case VaultProcessLog log:
                VaultLog(log);
                return true;
            case VaultProcessExited exited when exited.Pid == _process?.Pid:
                Died(exited);
                return true;
            case VaultProcessEvent:
                return true; // an event of an earlier child
            case RequestTimedOut timedOut:
                if (_pending.Remove(timedOut.RequestId, out Pending? pending))
                {
                    pending.ReplyTo.Tell(new Status.Failure(new TimeoutException($"The vault did not answer {pending.Request.GetType().Name} within the timeout.")));
                }

                return true;
            case GetSnapshot:
                Sender.Tell(Snapshot());
                return true;
            case Notify:
                return true; // no vault to tell: its leases are gone with it
            case WhenStarted:
                if (_everStarted && _state is not VaultState.Stopped)
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
            case KillAfterGrace kill when kill.Pid == _process?.Pid:
                _log.Warning("The vault (pid {0}) did not exit within the grace period after its stdin closed; sending SIGKILL.", kill.Pid);
                _process.Kill();
                return true;
            case TerminateAfterWait term when term.Pid == _process?.Pid:
                _log.Warning("The vault (pid {0}) did not exit after its stdin closed; sending SIGTERM.", term.Pid);
                _process.Terminate();
                return true;
            case HeartbeatTick or LaunchTick or StartupTimedOut or ActorIdentity or KillAfterGrace or ExitWaitTimedOut or TerminateAfterWait:
                return true; // stale timers and answers of earlier attempts
            case Status.Failure:
                return true; // a timed-out Hello answered to this actor itself
            default:
                return false;
        }
    }

    // ---------------------------------------------------------------- lifecycle

    private void Launch()
    {
        _attempt++;
        _killReason = null;
        _vault = null;
        _guardianPath = string.Empty;
        _readyPath = null;
        _identifyId = 0;
        _stderrTail.Clear();
        Transition(VaultState.Starting, _attempt == 1 ? "starting" : $"restart {_restarts}");
        Context.Become(Starting);

        if (Interlocked.Exchange(ref _preLaunched, null) is { } pre)
        {
            // Started by VaultClient before this actor system existed; its events were buffered.
            _ring.Add(pre.Keys);
            _keys = pre.Keys;
            _process = pre.Process;
            pre.Sink.Attach(Self);
            Timers.StartSingleTimer("startup", new StartupTimedOut(_attempt), _settings.StartupTimeout);
            return;
        }

        SessionKeys keys;
        using (SecretBuffer bootstrap = SessionKeys.NewBootstrap())
        {
            keys = SessionKeys.Derive(bootstrap);
            _ring.Add(keys);
            _keys = keys;
            try
            {
                _process = _launcher.Launch(_settings, bootstrap, VaultEventSink.For(Self));
            }
#pragma warning disable CA1031 // any launch failure is a startup failure, reported with its message
            catch (Exception e)
#pragma warning restore CA1031
            {
                StartFailed(e is VaultStartupException ? e.Message : $"launching the vault failed ({e.GetType().Name}: {e.Message})");
                return;
            }
        }

        Timers.StartSingleTimer("startup", new StartupTimedOut(_attempt), _settings.StartupTimeout);
        _log.Info("Vault child started (pid {0}, attempt {1}); waiting for READY.", _process.Pid, _attempt);
    }

    private void Started(Welcome welcome)
    {
        Timers.Cancel("startup");
        _everStarted = true;
        _publicKey = welcome.Keystore.PublicKey;
        _secretNames.Clear();
        _oldestUnansweredPing = -1;
        Timers.StartPeriodicTimer("heartbeat", HeartbeatTick.Instance, _settings.HeartbeatInterval);
        Context.Become(Running);
        Transition(RunningState, $"vault pid {welcome.VaultPid} ready: RSA-{welcome.Keystore.KeyBits}, secure heap {welcome.Keystore.SecureHeapUsedBytes} B used, {welcome.Memory.Backing}");

        foreach (IActorRef waiter in _startWaiters)
        {
            waiter.Tell(Snapshot());
        }

        _startWaiters.Clear();
        foreach ((Request request, IActorRef replyTo) in _queued)
        {
            Relay(request, replyTo);
        }

        _queued.Clear();
    }

    private void StartFailed(string why)
    {
        Timers.Cancel("startup");
        if (_process is not null)
        {
            // Kill it and wait for its exit: the exit event carries the last stderr lines, and nothing
            // the dying child says may still be believed.
            _killReason = why;
            FailQueued(new VaultUnavailableException($"The vault failed to start ({why}).", VaultState.Starting));
            Context.Become(AwaitingExit);
            Timers.StartSingleTimer("exit-wait", new ExitWaitTimedOut(_process.Pid), TimeSpan.FromSeconds(10));
            _process.Kill();
            return;
        }

        EndSession(why);
        if (_everStarted)
        {
            FailAll(new VaultUnavailableException($"The vault could not be restarted: {why}.", VaultState.Restarting));
            ScheduleRestart(why);
            return;
        }

        FinalStartupFailure(why);
    }

    private void FinalStartupFailure(string why)
    {
        var failure = new VaultStartupException($"The vault could not be started: {why.TrimEnd('.')}.", [.. _stderrTail]);
        _startupFailure = failure;
        EndSession(why);
        Transition(VaultState.Stopped, $"startup failed: {why}");
        Context.Become(StoppedState);
        AnswerStartWaiters(failure);
        FailAll(failure);
    }

    private void AnswerStartWaiters(Exception failure)
    {
        foreach (IActorRef waiter in _startWaiters)
        {
            waiter.Tell(new Status.Failure(failure));
        }

        _startWaiters.Clear();
    }

    private void Died(VaultProcessExited exited)
    {
        string cause = _killReason is null ? exited.Describe() : $"{_killReason}; {exited.Describe()}";
        _process?.Dispose();
        _process = null;
        _vault = null;
        Timers.Cancel("heartbeat");
        Timers.Cancel("startup");
        Timers.Cancel("exit-wait");
        int failed = _pending.Count + _queued.Count;
        int zeroed = EndSession(cause);
        if (_state == VaultState.Stopped)
        {
            _log.Info("The vault exited as asked: {0}. {1} client-side secret buffer(s) zeroed.", cause, zeroed);
            FailAll(Unavailable());
            foreach (IActorRef waiter in _stopWaiters)
            {
                waiter.Tell(new Stopped(cause));
            }

            _stopWaiters.Clear();
            return;
        }

        _log.Warning("The vault died: {0}. {1} client-side secret buffer(s) zeroed, {2} request(s) failed.", cause, zeroed, failed);
        if (!_everStarted)
        {
            FinalStartupFailure(cause);
            return;
        }

        FailAll(new VaultUnavailableException($"The vault is unavailable: {cause}. It restarts locked; secrets must be entered again.", VaultState.Restarting));
        ScheduleRestart(cause);
    }

    private void ScheduleRestart(string cause)
    {
        long now = _clock.ElapsedMilliseconds;
        while (_restartTimes.Count > 0 && now - _restartTimes.Peek() > _settings.MaxRestartsWithin.TotalMilliseconds)
        {
            _restartTimes.Dequeue();
        }

        if (_restartTimes.Count >= _settings.MaxRestarts)
        {
            string why = $"{cause}; {_restartTimes.Count} restarts within {_settings.MaxRestartsWithin.TotalSeconds:0.#} s, giving up";
            _log.Error("The vault keeps dying ({0}); it will not be restarted.", why);
            Transition(VaultState.Stopped, why);
            Context.Become(StoppedState);
            FailAll(Unavailable());
            return;
        }

        _restartTimes.Enqueue(now);
        _restarts++;
        VaultMetrics.RecordRestart();
        TimeSpan delay = _settings.Backoff(_restartTimes.Count, Random.Shared.NextDouble());
        Transition(VaultState.Restarting, cause);
        Context.Become(Restarting);
        Timers.StartSingleTimer("launch", LaunchTick.Instance, delay);
        _log.Info("Restarting the vault in {0} ms (restart {1}).", (long)delay.TotalMilliseconds, _restarts);
    }

    private void StopVault(Stop stop)
    {
        Timers.CancelAll();
        Transition(VaultState.Stopped, "stopped by the application");
        Context.Become(StoppedState);
        FailAll(Unavailable());
        AnswerStartWaiters(Unavailable());
        if (_process is null)
        {
            EndSession("stopped by the application");
            Sender.Tell(new Stopped("no vault process was running"));
            return;
        }

        // The shutdown message is the end of its stdin (it zeroes and exits at once); SIGTERM if it has
        // not gone after half the grace period; SIGKILL at the end of it.
        _stopWaiters.Add(Sender);
        _process.CloseInput();
        Timers.StartSingleTimer("term", new TerminateAfterWait(_process.Pid), stop.Grace / 2);
        Timers.StartSingleTimer("kill", new KillAfterGrace(_process.Pid), stop.Grace);
    }

    /// <summary>Zeroes the session keys and every client-side buffer of the session; returns the buffer count.</summary>
    private int EndSession(string reason)
    {
        if (_keys is not null)
        {
            _ring.Remove(_keys.Id);
            _keys = null;
        }

        int zeroed = _tracker.ZeroAll($"the vault session ended: {reason}");
        _view.Current = Snapshot();
        return zeroed;
    }

    private void FailQueued(Exception failure)
    {
        foreach ((_, IActorRef replyTo) in _queued)
        {
            replyTo.Tell(new Status.Failure(failure));
        }

        _queued.Clear();
    }

    // ---------------------------------------------------------------- requests

    private void Relay(Request request, IActorRef replyTo)
    {
        if (_pending.Count >= _settings.MaxPendingRequests)
        {
            replyTo.Tell(new Status.Failure(new VaultOperationException(VaultError.Busy, $"{_settings.MaxPendingRequests} requests are already in flight.")));
            return;
        }

        SendToVault(request.Body, replyTo, request.Interactive ? _settings.InteractiveTimeout : _settings.RequestTimeout);
    }

    private void SendToVault(IVaultRequest body, IActorRef replyTo, TimeSpan timeout)
    {
        Timers.StartSingleTimer(body.RequestId, new RequestTimedOut(body.RequestId), timeout);
        _pending[body.RequestId] = new Pending(replyTo, body);
        _vault!.Tell(new VaultEnvelope(_keys!.Id, body), Self);
    }

    private void FromVault(IVaultProtocolMessage body)
    {
        switch (body)
        {
            case Pong pong when !_pending.ContainsKey(pong.RequestId):
                _oldestUnansweredPing = -1;
                return;
            case KeystoreReset reset when _state is VaultState.Locked or VaultState.Unlocked:
                _secretNames.Clear();
                if (reset.Keystore.PublicKey is { Length: > 0 } key)
                {
                    _publicKey = key;
                }

                _tracker.EndAll(LeaseEnd.Revoked, $"the vault's keystore failed ({reset.Reason})");

                // Requests the failed keystore held are lost with it: fail them now rather than at their timeout.
                var lost = new VaultOperationException(VaultError.KeystoreUnavailable, $"The vault's keystore failed and was replaced ({reset.Reason}).");
                foreach ((Guid id, Pending pending) in _pending.Where(p => p.Value.Request is not (ReadSecret or Hello or Ping or RevokeLeases)).ToList())
                {
                    _pending.Remove(id);
                    Timers.Cancel(id);
                    pending.ReplyTo.Tell(new Status.Failure(lost));
                }

                Transition(RunningState, $"keystore reset: {reset.Reason}", force: true);
                return;
            case KeystoreReset:
                return;
            case LeaseRevoked revoked:
                // Audited once, with its name and time held, when its callback is over (LeaseRunner).
                _ = _tracker.End(revoked.LeaseId, LeaseEnd.Revoked, revoked.Reason);
                return;
            case LeaseExpired expired:
                _ = _tracker.End(expired.LeaseId, LeaseEnd.Expired, "the vault's deadline passed");
                return;
            case IVaultReply reply when _pending.Remove(reply.RequestId, out Pending? pending):
                Timers.Cancel(reply.RequestId);
                _oldestUnansweredPing = -1;
                Observe(reply);
                pending.ReplyTo.Tell(reply switch
                {
                    RequestFailed failed => new Status.Failure(ToException(failed)),
                    LeaseGranted => new SessionStamped(_keys!.Id, reply),
                    _ => reply,
                });
                return;
            default:
                _log.Debug("Dropped a late or unknown vault message {0}.", body.GetType().Name);
                return;
        }
    }

    /// <summary>Keeps the state (locked/unlocked) and public key in step with what the vault reports.</summary>
    private void Observe(IVaultReply reply)
    {
        switch (reply)
        {
            case SecretStored stored:
                _secretNames.Add(stored.Name);
                break;
            case SecretLocked locked:
                _secretNames.Remove(locked.Name);
                break;
            case VaultStatusReply status:
                _secretNames.Clear();
                _secretNames.UnionWith(status.Secrets);
                break;
            case KeypairGenerated generated:
                _publicKey = generated.Keystore.PublicKey;
                _view.Current = Snapshot();
                Transition(_state, $"new RSA-{generated.Keystore.KeyBits} keypair", force: true);
                break;
            default:
                return;
        }

        if (_state is VaultState.Locked or VaultState.Unlocked && RunningState != _state)
        {
            Transition(RunningState, reply is SecretStored s ? $"secret '{s.Name}' stored" : "secrets changed");
        }
    }

    private void Heartbeat()
    {
        long now = _clock.ElapsedMilliseconds;
        long silent = _oldestUnansweredPing < 0 ? 0 : now - _oldestUnansweredPing;
        if (silent > _settings.UnresponsiveAfter.TotalMilliseconds && _process is not null)
        {
            _killReason = $"no answer to heartbeats for {silent} ms";
            _log.Error("The vault (pid {0}) is unresponsive ({1}); killing it.", _process.Pid, _killReason);
            Timers.Cancel("heartbeat");
            _process.Kill();
            return;
        }

        _vault?.Tell(new VaultEnvelope(_keys!.Id, new Ping(Guid.NewGuid(), ++_pingSequence)), Self);
        if (_oldestUnansweredPing < 0)
        {
            _oldestUnansweredPing = now;
        }
    }

    private void FailAll(Exception failure)
    {
        foreach (Pending pending in _pending.Values)
        {
            Timers.Cancel(pending.Request.RequestId);
            if (!pending.ReplyTo.Equals(Self))
            {
                pending.ReplyTo.Tell(new Status.Failure(failure));
            }
        }

        _pending.Clear();
        FailQueued(failure);
    }

    internal static Exception ToException(RequestFailed failed) => failed.Code switch
    {
        VaultErrorCode.SecretInput => new SecretInputException((SecretInputError)failed.InputError, failed.Message),
        VaultErrorCode.SecretNotFound => new VaultOperationException(VaultError.SecretNotFound, failed.Message),
        VaultErrorCode.ConfirmationMismatch => new VaultOperationException(VaultError.ConfirmationMismatch, failed.Message),
        VaultErrorCode.BadRequest => new VaultOperationException(VaultError.BadRequest, failed.Message),
        VaultErrorCode.SealedPayloadRejected => new VaultOperationException(VaultError.SealedPayloadRejected, failed.Message),
        VaultErrorCode.KeystoreUnavailable => new VaultOperationException(VaultError.KeystoreUnavailable, failed.Message),
        VaultErrorCode.Busy => new LeaseCapacityException(failed.Message),
        VaultErrorCode.SecretLocked => new SecretLockedException(failed.Message),
        _ => new VaultOperationException(VaultError.Unknown, failed.Message),
    };

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
            _vaultLog(log.Line);
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
            Context.System.EventStream.Publish(new VaultStateChanged(previous, state, reason, _process?.Pid ?? 0, _restarts));
        }
    }

    private Snapshot Snapshot() =>
        new(_state, _process?.Pid ?? 0, _publicKey, _restarts, _reason, _keys?.Id, _guardianPath);

    private sealed record Pending(IActorRef ReplyTo, IVaultRequest Request);
}
