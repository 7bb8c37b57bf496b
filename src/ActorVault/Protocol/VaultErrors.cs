using ActorVault.Memory.Readers;

namespace ActorVault.Protocol;

/// <summary>
/// The error half of the contract: how a <see cref="RequestFailed"/> code from the vault becomes the
/// exception the application's caller sees. The vault side only ever names a <see cref="VaultErrorCode"/>.
/// </summary>
internal static class VaultErrors
{
    public static Exception ToException(RequestFailed failed) => failed.Code switch
    {
        VaultErrorCode.SecretInput => new SecretInputException((SecretInputError)failed.InputError, failed.Message),
        VaultErrorCode.SecretNotFound => new SecretUnavailableException(failed.Message, SecretUnavailableReason.NeverSet),
        VaultErrorCode.ConfirmationMismatch => new VaultOperationException(VaultError.ConfirmationMismatch, failed.Message),
        VaultErrorCode.BadRequest => new VaultOperationException(VaultError.BadRequest, failed.Message),
        VaultErrorCode.SealedPayloadRejected => new VaultOperationException(VaultError.SealedPayloadRejected, failed.Message),
        VaultErrorCode.KeystoreUnavailable => new VaultOperationException(VaultError.KeystoreUnavailable, failed.Message),
        VaultErrorCode.Busy => new LeaseCapacityException(failed.Message),
        VaultErrorCode.SecretLocked => new SecretLockedException(failed.Message),
        _ => new VaultOperationException(VaultError.Unknown, failed.Message),
    };
}
