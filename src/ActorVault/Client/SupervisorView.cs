using static ActorVault.Client.SupervisorProtocol;

namespace ActorVault.Client;

/// <summary>
/// The supervisor's latest snapshot, written by the supervisor before it answers anything, read by
/// the facade without a round trip: after an awaited call returns, <see cref="VaultClient.State"/>
/// already reflects it.
/// </summary>
internal sealed class SupervisorView
{
    private Snapshot _current = new(VaultState.Starting, 0, [], 0, "starting", null, string.Empty);

    public Snapshot Current
    {
        get => Volatile.Read(ref _current);
        set => Volatile.Write(ref _current, value);
    }
}
