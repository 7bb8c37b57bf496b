using Akka.Actor;
using ActorVault.Protocol;

namespace ActorVault.Client;

/// <summary>The VaultSupervisor's protocol (application side).</summary>
internal static class SupervisorProtocol
{
    /// <summary>Send <paramref name="Body"/> to the vault; the reply body (or Status.Failure) goes to the sender.</summary>
    public sealed record Request(IVaultRequest Body, bool Interactive = false);

    /// <summary>Send a one-way notice (a lease release) to the vault, if one is running; never answered.</summary>
    public sealed record Notify(IVaultProtocolMessage Notice);

    /// <summary>Answered with <see cref="Snapshot"/>.</summary>
    public sealed class GetSnapshot
    {
        public static readonly GetSnapshot Instance = new();

        private GetSnapshot()
        {
        }
    }

    /// <summary>Answered with <see cref="Snapshot"/> once the first start succeeded, or Status.Failure(VaultStartupException).</summary>
    public sealed class WhenStarted
    {
        public static readonly WhenStarted Instance = new();

        private WhenStarted()
        {
        }
    }

    /// <summary>Stop the vault for good: close its stdin, SIGKILL after the grace period. Answered with <see cref="Stopped"/>.</summary>
    public sealed record Stop(TimeSpan Grace);

    public sealed record Stopped(string Reason);

    /// <summary>The supervisor's view of the vault. <see cref="PublicKey"/> is the vault's RSA public key (SPKI).</summary>
    public sealed record Snapshot(VaultState State, int VaultPid, byte[] PublicKey, int Restarts, string Reason, SessionId? Session, string GuardianPath);

    /// <summary>
    /// Fault injection (tests, in-process only: the type is internal and no serializer of the link
    /// carries it): the supervisor, or with <paramref name="InRun"/> its current run, throws.
    /// </summary>
    internal sealed record InjectFault(bool InRun, string Reason);

    // ---- between the supervisor and its run ----

    /// <summary>The run's guardian answered Hello: the vault is up.</summary>
    internal sealed record RunReady(Welcome Welcome);

    /// <summary>The run's handshake failed (a bad READY address, no guardian there).</summary>
    internal sealed record RunFailed(string Why);

    /// <summary>The run's vault left heartbeats unanswered too long: kill it.</summary>
    internal sealed record RunUnresponsive(string Why);

    /// <summary>
    /// The run saw the vault's secrets or keys change (<paramref name="PublicKey"/>: a new key, or null).
    /// <see cref="Answer"/>, if set, goes to <see cref="ReplyTo"/> once the state is recorded.
    /// </summary>
    internal sealed record RunStatus(bool Unlocked, byte[]? PublicKey, string Reason, bool Force)
    {
        public IActorRef? ReplyTo { get; init; }

        public object? Answer { get; init; }
    }

    // ---- timers ----
    internal sealed class LaunchTick
    {
        public static readonly LaunchTick Instance = new();
    }

    internal sealed class HeartbeatTick
    {
        public static readonly HeartbeatTick Instance = new();
    }

    internal sealed class StartupTimedOut
    {
        public static readonly StartupTimedOut Instance = new();
    }

    internal sealed record RequestTimedOut(Guid RequestId);

    internal sealed class KillAfterGrace
    {
        public static readonly KillAfterGrace Instance = new();
    }

    internal sealed class TerminateAfterWait
    {
        public static readonly TerminateAfterWait Instance = new();
    }

    internal sealed class ExitWaitTimedOut
    {
        public static readonly ExitWaitTimedOut Instance = new();
    }

    /// <summary>A session-sealed reply, with the session whose payload key opens it.</summary>
    public sealed record SessionStamped(SessionId Session, IVaultReply Reply);
}
