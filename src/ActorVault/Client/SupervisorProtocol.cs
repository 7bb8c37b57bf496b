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

    // ---- internal to the supervisor ----
    internal sealed class LaunchTick
    {
        public static readonly LaunchTick Instance = new();
    }

    internal sealed class HeartbeatTick
    {
        public static readonly HeartbeatTick Instance = new();
    }

    internal sealed record StartupTimedOut(int Attempt);

    internal sealed record RequestTimedOut(Guid RequestId);

    internal sealed record KillAfterGrace(int Pid);

    internal sealed record TerminateAfterWait(int Pid);

    internal sealed record ExitWaitTimedOut(int Pid);

    /// <summary>A session-sealed reply, with the session whose payload key opens it.</summary>
    public sealed record SessionStamped(SessionId Session, IVaultReply Reply);
}
