using Akka.Actor;
using ActorVault.Client;
using ActorVault.Memory;
using ActorVault.Protocol;
using ActorVault.Serialization;
using static ActorVault.Client.SupervisorProtocol;

namespace ActorVault;

// VaultClient, part: Stopping: one CoordinatedShutdown path for StopAsync, signals and the application's own shutdown; the supervisor's end.
public sealed partial class VaultClient
{
    /// <summary>
    /// Stops the vault: its stdin is closed (it zeroes everything and exits within a second), SIGKILL
    /// after <paramref name="grace"/> (default 5 s); then the link system terminates.
    /// </summary>
    public async Task StopAsync(TimeSpan? grace = null)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0 && _system.WhenTerminated.IsCompleted)
        {
            return;
        }

        _stopGrace = grace ?? _settings.StopGrace;
        if (_ownsSystem)
        {
            // One path for every stop: the link system's CoordinatedShutdown runs the tasks below. Its
            // service-stop phase gives up after its own timeout, which would cut a longer grace short:
            // then leases and the vault are stopped here first, and the phase finds them done.
            CoordinatedShutdown shutdown = CoordinatedShutdown.Get(_system);
            if (_stopGrace > shutdown.Timeout(CoordinatedShutdown.PhaseServiceStop))
            {
                await StopLeasesAsync().ConfigureAwait(false);
                await StopVaultAsync().ConfigureAwait(false);
            }

            await shutdown.Run(ClientStopReason.Instance).ConfigureAwait(false);
            await _system.WhenTerminated.ConfigureAwait(false);
        }
        else
        {
            await StopLeasesAsync().ConfigureAwait(false);
            await StopVaultAsync().ConfigureAwait(false);
        }

        foreach (System.Runtime.InteropServices.PosixSignalRegistration registration in _signals)
        {
            registration.Dispose();
        }

        if (_onUnhandled is not null)
        {
            AppDomain.CurrentDomain.UnhandledException -= _onUnhandled;
        }

        _publicKey?.Dispose();
    }

    private TimeSpan _stopGrace;

    private readonly Lock _stopGate = new();

    private Task? _stopVault;

    /// <summary>CoordinatedShutdown reason: <see cref="StopAsync"/> was called.</summary>
    private sealed class ClientStopReason : CoordinatedShutdown.Reason
    {
        public static readonly ClientStopReason Instance = new();

        public override int ExitCode => 0;
    }

    /// <summary>
    /// CoordinatedShutdown of the link system (run by <see cref="StopAsync"/>, by Akka on SIGTERM/SIGINT,
    /// and by this client on SIGHUP/SIGQUIT): stop granting leases and revoke the live ones (zeroed),
    /// stop the vault child gracefully, zero every remaining buffer and the session keys.
    /// </summary>
    private void RegisterShutdown(bool handleSignals)
    {
        CoordinatedShutdown shutdown = CoordinatedShutdown.Get(_system);
        shutdown.AddTask(CoordinatedShutdown.PhaseServiceRequestsDone, "actorvault-revoke-leases", async () =>
        {
            await StopLeasesAsync().ConfigureAwait(false);
            return Akka.Done.Instance;
        });
        shutdown.AddTask(CoordinatedShutdown.PhaseServiceStop, "actorvault-stop-vault", async () =>
        {
            await StopVaultAsync().ConfigureAwait(false);
            return Akka.Done.Instance;
        });
        shutdown.AddTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate, "actorvault-zero", () =>
        {
            _tracker.ZeroAll("the application shut down");
            SessionKeyRing.For(_system).Clear();
            return Task.FromResult(Akka.Done.Instance);
        });

        _onUnhandled = (_, e) =>
        {
            // The process dies: zero everything first (the emergency wipe is lock-free and allocation-free).
            int leases = _tracker.ZeroAll("unhandled exception");
            int zeroed = SecretMemory.ZeroAll("unhandled exception");
            Console.Error.WriteLine($"actorvault: unhandled {e.ExceptionObject.GetType().Name}; {leases} lease buffer(s) and {zeroed} secret buffer(s) zeroed before the process dies.");
        };
        AppDomain.CurrentDomain.UnhandledException += _onUnhandled;

        if (!handleSignals)
        {
            return;
        }

        // SIGTERM and SIGINT: Akka's hook runs CoordinatedShutdown but cancels the default exit, so a
        // process whose Main does not wait for the actor system would hang. SIGHUP and SIGQUIT would kill
        // the process with no cleanup. All four: revoke leases, CoordinatedShutdown, exit 128 + signal.
        foreach ((System.Runtime.InteropServices.PosixSignal signal, int number) in new[]
        {
            (System.Runtime.InteropServices.PosixSignal.SIGTERM, 15), (System.Runtime.InteropServices.PosixSignal.SIGINT, 2),
            (System.Runtime.InteropServices.PosixSignal.SIGHUP, 1), (System.Runtime.InteropServices.PosixSignal.SIGQUIT, 3),
        })
        {
            _signals.Add(System.Runtime.InteropServices.PosixSignalRegistration.Create(signal, context =>
            {
                context.Cancel = true;
                _tracker.EndAll(LeaseEnd.Revoked, $"signal {number}");
                _ = Task.Run(async () =>
                {
                    await CoordinatedShutdown.Get(_system).Run(new SignalReason(number)).ConfigureAwait(false);
                    await _system.WhenTerminated.ConfigureAwait(false);
                    if (Environment.GetEnvironmentVariable("ACTORVAULT_TEST_HOLD_AFTER_SHUTDOWN") == "1")
                    {
                        Console.Out.WriteLine($"ACTORVAULT-APP-SHUTDOWN-DONE signal={number}");
                        Console.Out.Flush();
                        return;
                    }

                    Environment.Exit(128 + number);
                });
            }));
        }
    }

    private Task StopLeasesAsync()
    {
        Volatile.Write(ref _shuttingDown, 1);
        Volatile.Write(ref _disposed, 1);
        int revoked = _tracker.EndAll(LeaseEnd.Revoked, "the application is shutting down");
        if (revoked > 0 && _logger is not null)
        {
            Microsoft.Extensions.Logging.LoggerExtensions.LogInformation(_logger, "Shutdown: {Count} live lease(s) revoked and zeroed.", revoked);
        }

        return Task.CompletedTask;
    }

    /// <summary>Stops the vault once: <see cref="StopAsync"/> does it before CoordinatedShutdown, whose task then finds it done.</summary>
    private Task StopVaultAsync()
    {
        lock (_stopGate)
        {
            return _stopVault ??= StopVaultOnceAsync();
        }
    }

    private async Task StopVaultOnceAsync()
    {
        if (_supervisorGone.Task.IsCompleted)
        {
            return; // its PostStop already killed the child
        }

        try
        {
            _ = await _supervisor.Ask<Stopped>(new Stop(_stopGrace), _stopGrace + TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
        {
            // The supervisor's PostStop kills the child when the system terminates in any case.
        }

        _tracker.ZeroAll("the vault client stopped");
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    /// <summary>Completed when the supervisor actor is gone: every pending and later call fails at once.</summary>
    private readonly TaskCompletionSource _supervisorGone = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private int _stoppedPublished;

    private void OnSupervisorTerminated()
    {
        Snapshot last = _view.Current;
        if (last.State != VaultState.Stopped)
        {
            _view.Current = last with { State = VaultState.Stopped, Reason = "the vault supervisor stopped" };
        }

        if (Volatile.Read(ref _stoppedPublished) == 0)
        {
            // Also on the link system's event stream, like every other state change.
            _system.EventStream.Publish(new VaultStateChanged(last.State, VaultState.Stopped, "the vault supervisor stopped", last.VaultPid, last.Restarts));
        }

        _tracker.ZeroAll("the vault supervisor stopped");
        _supervisorGone.TrySetResult();
    }

    private void OnStateChanged(VaultStateChanged changed)
    {
        if (changed.State == VaultState.Stopped)
        {
            Volatile.Write(ref _stoppedPublished, 1);
        }

        if (_logger is not null)
        {
            Microsoft.Extensions.Logging.LoggerExtensions.LogInformation(_logger, "Vault {Previous} -> {State}: {Reason}", changed.Previous, changed.State, changed.Reason);
        }

        StateChanged?.Invoke(this, changed);
    }

    private void OnAudit(LeaseAuditEvent audit)
    {
        Microsoft.Extensions.Logging.LogLevel level = audit.Kind is LeaseAuditKind.Granted or LeaseAuditKind.Released
            ? Microsoft.Extensions.Logging.LogLevel.Debug
            : Microsoft.Extensions.Logging.LogLevel.Information;
        Microsoft.Extensions.Logging.LoggerExtensions.Log(_auditLogger!, level, "Lease {LeaseAuditKind}: {LeaseId} of {SecretName} after {DurationSeconds} s ({Reason})", audit.Kind, audit.LeaseId, audit.SecretName, audit.Duration.TotalSeconds, audit.Reason);
    }

    private sealed class StateListener : ReceiveActor
    {
        public StateListener(VaultClient client, IActorRef supervisor)
        {
            // However the supervisor ends (stopped, or a failure its parent did not restart), the facade knows at once.
            Context.Watch(supervisor);
            Receive<VaultStateChanged>(client.OnStateChanged);
            Receive<LeaseAuditEvent>(client.OnAudit);
            Receive<Terminated>(t => t.ActorRef.Equals(supervisor), _ => client.OnSupervisorTerminated());
        }
    }
}
