using Akka.Actor;

namespace ActorVault.Vault;

/// <summary>
/// Strategy of the vault system's <c>/user</c> guardian (<c>akka.actor.guardian-supervisor-strategy</c>).
/// Akka.Remote's untrusted mode drops PoisonPill and selections, but a <see cref="Kill"/> sent to a
/// resolved reference still arrives (measured on Akka.NET 1.5.74); the VaultGuardian resumes after one.
/// Any other failure restarts the guardian, whose children (the keystore) zero themselves on the way.
/// </summary>
public sealed class VaultRootStrategy : SupervisorStrategyConfigurator
{
    /// <inheritdoc />
    public override SupervisorStrategy Create() =>
        new OneForOneStrategy(e => e is ActorKilledException ? Directive.Resume : Directive.Restart);
}
