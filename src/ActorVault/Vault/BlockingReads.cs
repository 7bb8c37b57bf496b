using Akka.Actor;

namespace ActorVault.Vault;

/// <summary>
/// Cancels the vault's blocking secret reads (a terminal prompt) on shutdown. An actor blocked in a
/// read cannot process a stop, so CoordinatedShutdown cancels through this before actors stop.
/// </summary>
internal sealed class BlockingReads : IExtension
{
    private readonly CancellationTokenSource _cancel = new();

    public CancellationToken Token => _cancel.Token;

    public static BlockingReads For(ActorSystem system) => system.WithExtension<BlockingReads, BlockingReadsProvider>();

    public void CancelAll()
    {
        try
        {
            _cancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already shut down.
        }
    }
}

internal sealed class BlockingReadsProvider : ExtensionIdProvider<BlockingReads>
{
    public override BlockingReads CreateExtension(ExtendedActorSystem system) => new();
}
