using Akka.Actor;
using ActorVault.Agent;

namespace ActorVault.Standalone;

/// <summary>
/// <c>/user/agent</c> of the standalone host: one child <see cref="AgentConnection"/> per client
/// connection (the kernel checked its uid), at most <see cref="HostSettings.MaxConnections"/> at once;
/// a connection that fails is stopped, which closes it, and nothing else. When a secret is locked or the
/// vault loses its secrets, every connection revokes its clients' leases of it.
/// </summary>
internal sealed class HostAgent : ReceiveActor
{
    public const string Name = "agent";

    private readonly HostContext _host;
    private EventHandler<VaultStateChanged>? _onState;

    public HostAgent(HostContext host)
    {
        _host = host;
        Receive<Accepted>(OnAccepted);
        Receive<RevokeClientLeases>(r =>
        {
            foreach (IActorRef child in Context.GetChildren())
            {
                child.Forward(r);
            }
        });
        Receive<Terminated>(_ => _host.Connections = Context.GetChildren().Count());
    }

    public static Props Props(HostContext host) => Akka.Actor.Props.Create(() => new HostAgent(host));

    protected override void PreStart()
    {
        IActorRef self = Self;
        _onState = (_, change) =>
        {
            if (change.State != VaultState.Unlocked && change.Previous == VaultState.Unlocked)
            {
                self.Tell(new RevokeClientLeases(null, $"the vault is {change.State.ToString().ToLowerInvariant()} ({change.Reason})"));
            }
        };
        _host.Vault.StateChanged += _onState;
    }

    protected override void PostStop()
    {
        _host.Vault.StateChanged -= _onState;
        // Every connection stopped with us: its clients see end of input, their leases end.
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(e =>
    {
        _host.Event($"warning: a client connection failed ({e.GetType().Name}: {e.Message}); it is closed");
        return Directive.Stop;
    });

    private void OnAccepted(Accepted accepted)
    {
        if (Context.GetChildren().Count() >= _host.Settings.MaxConnections)
        {
            _host.Refusal($"refused client pid {accepted.Pid}: {_host.Settings.MaxConnections} connections are open (actorvault.host.max-connections)");
            try
            {
                accepted.Socket.Send(new AgentHeader(AgentKind.Failed, 0)
                {
                    Error = AgentError.Busy,
                    Message = $"The actorvault host serves {_host.Settings.MaxConnections} connections already; try again when one closes.",
                });
            }
            catch (IOException)
            {
            }

            accepted.Socket.Dispose();
            return;
        }

        Context.Watch(Context.ActorOf(AgentConnection.Props(_host, accepted.Socket, accepted.Pid)));
        _host.Connections = Context.GetChildren().Count();
    }

    /// <summary>A connection the listener accepted and checked (its uid is this user's, or root when allowed).</summary>
    public sealed record Accepted(AgentSocket Socket, int Pid);
}

/// <summary>Revoke the host's clients' leases of <c>Name</c> (all when null).</summary>
internal sealed record RevokeClientLeases(string? Name, string Reason);
