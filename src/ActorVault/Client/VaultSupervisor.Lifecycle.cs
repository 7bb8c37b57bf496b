using Akka.Actor;
using Akka.Event;
using ActorVault.Crypto;
using ActorVault.Memory;
using ActorVault.Protocol;
using ActorVault.Serialization;
using static ActorVault.Client.SupervisorProtocol;

namespace ActorVault.Client;

// VaultSupervisor, part: the vault's lifecycle — launch, a run per process, start, failure, death, backoff, stop.
internal sealed partial class VaultSupervisor
{
    private void Launch()
    {
        _killReason = null;
        _guardianPath = string.Empty;
        _unlocked = false;
        _stderrTail.Clear();
        Transition(VaultState.Starting, _ledger.Restarts == 0 ? "starting" : $"restart {_ledger.Restarts}");
        Context.Become(Starting);
        Timers.StartSingleTimer(StartupTimer, StartupTimedOut.Instance, _settings.StartupTimeout);

        if (_ledger.TakePreLaunched() is { } pre)
        {
            // Started by VaultClient before this actor system existed; its events were buffered.
            _ring.Add(pre.Keys);
            _keys = pre.Keys;
            _process = pre.Process;
            StartRun();
            pre.Sink.Attach(Self);
            return;
        }

        using (SecretBuffer bootstrap = SessionKeys.NewBootstrap())
        {
            _keys = SessionKeys.Derive(bootstrap);
            _ring.Add(_keys);
            StartRun();
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

        _log.Info("Vault child started (pid {0}); waiting for READY.", _process.Pid);
    }

    private void StartRun()
    {
        _runHandle = new RunHandle();
        _run = Context.Watch(Context.ActorOf(VaultRun.Props(_keys!.Id, _settings, _tracker, _runHandle), $"run-{_ledger.NextRun()}"));
    }

    /// <summary>Stops the current run; its pending requests fail with <paramref name="failure"/>.</summary>
    private void EndRun(Exception failure)
    {
        if (_run is null)
        {
            return;
        }

        _runHandle!.EndWith(failure);
        Context.Unwatch(_run);
        Context.Stop(_run);
        _run = null;
        _runHandle = null;
    }

    /// <summary>The run stopped on its own (it failed): the vault it spoke to is no longer trusted.</summary>
    private void RunEnded()
    {
        string why = (_runHandle?.EndCause?.Message ?? "the vault connection failed").TrimEnd('.');
        _run = null;
        _runHandle = null;
        if (_process is not null)
        {
            _killReason = why;
            FailQueued(new VaultUnavailableException(why + ".", VaultState.Restarting));
            Context.Become(AwaitingExit);
            Timers.StartSingleTimer("exit-wait", ExitWaitTimedOut.Instance, TimeSpan.FromSeconds(10));
            _process.Kill();
        }
    }

    private void Started(Welcome welcome)
    {
        Timers.Cancel(StartupTimer);
        _ledger.EverStarted = true;
        _publicKey = welcome.Keystore.PublicKey;
        Context.Become(Running);
        Transition(RunningState, $"vault pid {welcome.VaultPid} ready: RSA-{welcome.Keystore.KeyBits}, secure heap {welcome.Keystore.SecureHeapUsedBytes} B used, {welcome.Memory.Backing}");

        foreach (IActorRef waiter in _startWaiters)
        {
            waiter.Tell(Snapshot());
        }

        _startWaiters.Clear();
        foreach ((Request request, IActorRef replyTo) in _queued)
        {
            _run!.Tell(request, replyTo);
        }

        _queued.Clear();
    }

    private void StartFailed(string why)
    {
        Timers.Cancel(StartupTimer);
        var failure = new VaultUnavailableException($"The vault failed to start ({why}).", VaultState.Starting);
        EndRun(failure);
        if (_process is not null)
        {
            // Kill it and wait for its exit: the exit event carries the last stderr lines, and nothing
            // the dying child says may still be believed.
            _killReason = why;
            FailQueued(failure);
            Context.Become(AwaitingExit);
            Timers.StartSingleTimer("exit-wait", ExitWaitTimedOut.Instance, TimeSpan.FromSeconds(10));
            _process.Kill();
            return;
        }

        EndSession(why);
        if (_ledger.EverStarted)
        {
            FailQueued(new VaultUnavailableException($"The vault could not be restarted: {why}.", VaultState.Restarting));
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
        FailQueued(failure);
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
        Timers.CancelAll();
        if (_state == VaultState.Stopped)
        {
            // Zero first: a caller must never hear of the end before the session's buffers are zeroed.
            int zeroedOnStop = EndSession(cause);
            EndRun(Unavailable());
            _log.Info("The vault exited as asked: {0}. {1} client-side secret buffer(s) zeroed.", cause, zeroedOnStop);
            foreach (IActorRef waiter in _stopWaiters)
            {
                waiter.Tell(new Stopped(cause));
            }

            _stopWaiters.Clear();
            return;
        }

        var failure = new VaultUnavailableException($"The vault is unavailable: {cause}. It restarts locked; secrets must be entered again.", VaultState.Restarting);
        int zeroed = EndSession(cause); // before the run (on its own thread) fails the pending requests
        EndRun(failure);
        FailQueued(failure);
        _log.Warning("The vault died: {0}. {1} client-side secret buffer(s) zeroed.", cause, zeroed);
        if (!_ledger.EverStarted)
        {
            FinalStartupFailure(cause);
            return;
        }

        ScheduleRestart(cause);
    }

    private void ScheduleRestart(string cause)
    {
        if (!_ledger.TryRestart(_settings, out int count))
        {
            string why = $"{cause}; {count} restarts within {_settings.MaxRestartsWithin.TotalSeconds:0.#} s, giving up";
            _log.Error("The vault keeps dying ({0}); it will not be restarted.", why);
            Transition(VaultState.Stopped, why);
            Context.Become(StoppedState);
            FailQueued(Unavailable());
            return;
        }

        (_settings.Instruments ?? VaultMetrics.Shared).Restarted();
        TimeSpan delay = _settings.Backoff(count, Random.Shared.NextDouble());
        Transition(VaultState.Restarting, cause);
        Context.Become(Restarting);
        Timers.StartSingleTimer("launch", LaunchTick.Instance, delay);
        _log.Info("Restarting the vault in {0} ms (restart {1}).", (long)delay.TotalMilliseconds, _ledger.Restarts);
    }

    private void StopVault(Stop stop)
    {
        Timers.CancelAll();
        Transition(VaultState.Stopped, "stopped by the application");
        Context.Become(StoppedState);
        EndRun(Unavailable());
        FailQueued(Unavailable());
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
        Timers.StartSingleTimer("term", TerminateAfterWait.Instance, stop.Grace / 2);
        Timers.StartSingleTimer("kill", KillAfterGrace.Instance, stop.Grace);
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
}
