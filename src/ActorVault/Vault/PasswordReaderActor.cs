using ActorVault.Agent;
using Akka.Actor;
using Akka.Event;
using ActorVault.Memory;
using ActorVault.Memory.Readers;
using ActorVault.Protocol;
using ActorVault.Serialization;

namespace ActorVault.Vault;

/// <summary>
/// Reads secrets in the vault process straight into secret memory, with the readers of
/// ActorVault.Memory: the controlling terminal (echo off, prompt, optional confirmation), a file, an
/// inherited file descriptor, or a systemd credential. Reads block, so this actor has its own thread
/// (<c>actorvault.blocking-dispatcher</c>). The buffer goes to the keystore, which seals and zeroes it;
/// on any failure the bytes read so far are zeroed by the reader and the caller gets a clear error.
/// </summary>
internal sealed class PasswordReaderActor : ReceiveActor
{
    private readonly SessionId _session;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public PasswordReaderActor(SessionId session)
    {
        _session = session;
        Receive<Routed>(r => r.Request is ReadSecret, r => Read((ReadSecret)r.Request, r.ReplyTo));
    }

    public static Props Props(SessionId session) =>
        Akka.Actor.Props.Create(() => new PasswordReaderActor(session)).WithDispatcher("actorvault.blocking-dispatcher");

    private void Read(ReadSecret request, IActorRef replyTo)
    {
        if (!SecretNames.IsValid(request.Name))
        {
            Reply(replyTo, new RequestFailed(request.RequestId, VaultErrorCode.BadRequest, $"Secret name {SecretNames.Describe(request.Name)} is invalid.", 0));
            return;
        }

        SecretBuffer? secret = null;
        try
        {
            var options = new SecretReadOptions { MaxBytes = request.MaxBytes, Prompt = request.Prompt, StopAtNewline = request.Source == SecretSourceKind.FileDescriptor };
            secret = ReadOnce(request, options);
            if (request.Confirm)
            {
                using SecretBuffer again = ReadOnce(request, options with { Prompt = request.ConfirmPrompt });
                if (!secret.FixedTimeEquals(again))
                {
                    _log.Info("Audit: read of secret {0} refused: the two entries differ.", SecretNames.Describe(request.Name));
                    Reply(replyTo, new RequestFailed(request.RequestId, VaultErrorCode.ConfirmationMismatch, $"The two entries for secret {SecretNames.Describe(request.Name)} differ; nothing was stored.", 0));
                    return;
                }
            }

            _log.Info("Audit: secret {0} read from {1} ({2} bytes).", SecretNames.Describe(request.Name), request.Source, secret.Length);
            // The guardian hands it to the current keystore, which seals it and zeroes this buffer.
            Context.Parent.Tell(new StoreReadSecret(request.RequestId, request.Name, secret, replyTo));
            secret = null;
        }
        catch (SecretInputException e)
        {
            _log.Info("Audit: read of secret {0} from {1} failed: {2}", SecretNames.Describe(request.Name), request.Source, e.Message);
            Reply(replyTo, new RequestFailed(request.RequestId, VaultErrorCode.SecretInput, e.Message, (int)e.Error));
        }
        catch (ArgumentException e)
        {
            Reply(replyTo, new RequestFailed(request.RequestId, VaultErrorCode.BadRequest, e.Message, 0));
        }
        finally
        {
            secret?.Dispose();
        }
    }

    private SecretBuffer ReadOnce(ReadSecret request, SecretReadOptions options) => request.Source switch
    {
        SecretSourceKind.Terminal => SecretReaders.ReadFromTerminal(options, BlockingReads.For(Context.System).Token),
        SecretSourceKind.File => SecretReaders.ReadFromFile(request.Path ?? throw new ArgumentException("A file source needs a path."), options),
        SecretSourceKind.SystemdCredential => SecretReaders.ReadSystemdCredential(request.Path ?? throw new ArgumentException("A systemd credential source needs a credential name."), options),
        SecretSourceKind.FileDescriptor when request.FileDescriptor is >= 0 and <= 2 =>
            throw new SecretInputException(SecretInputError.WrongSource, $"File descriptor {request.FileDescriptor} of the vault is its link to the application, not a secret source; pass a descriptor of 3 or more."),
        SecretSourceKind.FileDescriptor => SecretReaders.ReadFromInheritedDescriptor(request.FileDescriptor, options, BlockingReads.For(Context.System).Token),
        _ => throw new ArgumentException($"Unknown secret source {request.Source}."),
    };

    private void Reply(IActorRef replyTo, IVaultReply reply) => replyTo.Tell(new VaultEnvelope(_session, reply));
}
