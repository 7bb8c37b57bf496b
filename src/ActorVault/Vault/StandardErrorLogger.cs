using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;

namespace ActorVault.Vault;

/// <summary>
/// The vault's Akka logger: writes log lines to stderr, which the application forwards to its own
/// log (stdout is drained and ignored). Nothing secret is ever logged in the vault.
/// </summary>
internal sealed class StandardErrorLogger : ReceiveActor, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    public StandardErrorLogger()
    {
        Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
        Receive<LogEvent>(e => Console.Error.WriteLine($"[{Letter(e.LogLevel())}] {e.LogSource}: {e.Message}{(e.Cause is null ? string.Empty : $" ({e.Cause.GetType().Name}: {e.Cause.Message})")}"));
    }

    private static char Letter(LogLevel level) => level switch
    {
        LogLevel.DebugLevel => 'D',
        LogLevel.InfoLevel => 'I',
        LogLevel.WarningLevel => 'W',
        _ => 'E',
    };
}
