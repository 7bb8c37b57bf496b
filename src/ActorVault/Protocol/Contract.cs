using System.Text;
using Akka.Actor;

namespace ActorVault.Protocol;

/// <summary>
/// Every label that binds a key or a sealed payload to its purpose, in one place: the HKDF inputs of
/// the session keys and the READY tag, the associated data of lease payloads, of stored secrets and of
/// secrets sealed to the vault's public key. Changing one is a protocol version change (the "v1").
/// </summary>
internal static class Labels
{
    public static readonly byte[] BootstrapSalt = Encoding.ASCII.GetBytes("actorvault/v1/bootstrap");
    public static readonly byte[] SessionIdInfo = Encoding.ASCII.GetBytes("actorvault/v1/session-id");
    public static readonly byte[] EnvelopeKeyInfo = Encoding.ASCII.GetBytes("actorvault/v1/envelope-key");
    public static readonly byte[] PayloadKeyInfo = Encoding.ASCII.GetBytes("actorvault/v1/payload-key");
    public static readonly byte[] ReadyTagInfo = Encoding.ASCII.GetBytes("actorvault/v1/ready-tag");

    /// <summary>Sealed to the vault's public key to set a secret.</summary>
    public const string SetPurpose = "set-secret";

    /// <summary>Sealed to the vault's public key to verify a candidate.</summary>
    public const string VerifyPurpose = "verify-secret";

    /// <summary>Associated data of a value sealed to the vault's public key for <paramref name="purpose"/>.</summary>
    public static byte[] Sealed(string purpose, string name) => Encoding.UTF8.GetBytes($"actorvault/v1/{purpose}\0{name}");

    /// <summary>Associated data of a lease payload (sealed by the vault to the session's payload key).</summary>
    public static byte[] Lease(string name, Guid leaseId) => Encoding.UTF8.GetBytes($"actorvault/v1/lease\0{name}\0{leaseId:N}");

    /// <summary>Associated data of a secret at rest in the keystore (under its data key).</summary>
    public static byte[] Stored(string name) => Encoding.UTF8.GetBytes($"actorvault/v1/stored\0{name}");
}

/// <summary>
/// The vault child as a process, seen from its parent: the READY frame's prefix, its exit codes, the
/// line it prints when its shutdown is done, and the shutdown reasons behind the codes.
/// </summary>
internal static class VaultProcessContract
{
    /// <summary>First field of the READY frame on the link socket (see <see cref="Transport.LinkHandshake"/>).</summary>
    public const string ReadyPrefix = "ACTORVAULT-READY/1";

    /// <summary>Exit code when the parent went away (its process, the link socket or stdin).</summary>
    public const int ExitParentGone = 0;

    /// <summary>Exit code for a bootstrap or startup failure.</summary>
    public const int ExitStartupFailed = 2;

    /// <summary>The vault's last line, once everything is zeroed: <c>ACTORVAULT-SHUTDOWN-DONE exit=N</c>.</summary>
    public const string ShutdownDone = "ACTORVAULT-SHUTDOWN-DONE";
}

/// <summary>CoordinatedShutdown reason: a signal (exit code 128 + its number). Both sides use it.</summary>
internal sealed class SignalReason(int signal) : CoordinatedShutdown.Reason
{
    /// <inheritdoc />
    public override int ExitCode { get; } = 128 + signal;
}

/// <summary>CoordinatedShutdown reason: the application that owns this vault is gone.</summary>
internal sealed class ParentGoneReason : CoordinatedShutdown.Reason
{
    /// <summary>The singleton.</summary>
    public static readonly ParentGoneReason Instance = new();

    private ParentGoneReason()
    {
    }

    /// <inheritdoc />
    public override int ExitCode => VaultProcessContract.ExitParentGone;
}
