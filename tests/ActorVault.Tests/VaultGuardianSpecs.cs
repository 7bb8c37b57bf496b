using System.IO.Pipes;
using System.Security.Cryptography;
using Akka.Actor;
using Akka.TestKit;
using ActorVault.Crypto;
using ActorVault.Memory;
using ActorVault.Memory.Readers;
using ActorVault.Protocol;
using ActorVault.Serialization;
using ActorVault.Vault;

namespace ActorVault.Tests;

/// <summary>The vault side's actors in one system: guardian authentication, keystore seal/open, reader errors, supervision.</summary>
[Collection(SecretCountingCollection.Name)]
public sealed class VaultGuardianSpecs : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan KeyTime = TimeSpan.FromSeconds(30);
    private readonly SessionKeys _keys;
    private readonly IActorRef _guardian;
    private readonly TestProbe _app;

    public VaultGuardianSpecs()
        : base(SpecConfig.Vault)
    {
        using SecretBuffer bootstrap = SessionKeys.NewBootstrap();
        _keys = SessionKeys.Derive(bootstrap);
        SessionKeyRing.For(Sys).Add(_keys);
        _guardian = Sys.ActorOf(VaultGuardian.Props(_keys.Id, new VaultSettings(2048, 4096, 8) { Leases = new LeaseSettings(256, TimeSpan.FromMinutes(10)) }), VaultGuardian.Name);
        _app = CreateTestProbe("app");
    }

    [Fact]
    public void Ping_InTheSession_IsAnsweredByTheGuardian()
    {
        Hello();
        Guid id = Guid.NewGuid();
        _guardian.Tell(new VaultEnvelope(_keys.Id, new Ping(id, 5)), _app.Ref);
        var pong = Reply<Pong>();
        Assert.Equal((id, 5L), (pong.RequestId, pong.Sequence));
    }

    [Fact]
    public void RequestsBeforeHello_AreRefused_AndAnswersGoToTheApplicationThatSaidHello()
    {
        _guardian.Tell(new VaultEnvelope(_keys.Id, new GetVaultStatus(Guid.NewGuid())), _app.Ref);
        _app.ExpectMsg<Refused>();
        Hello();

        // A relay that holds a sealed frame (but not the key) gets nothing: the answer goes to the application.
        TestProbe relay = CreateTestProbe("relay");
        Guid id = Guid.NewGuid();
        _guardian.Tell(new VaultEnvelope(_keys.Id, new Ping(id, 1)), relay.Ref);
        Assert.Equal(id, Reply<Pong>(id).RequestId);
        relay.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void EnvelopeOfAnotherSession_RejectedFrame_AndBareMessages_AreRefused()
    {
        _guardian.Tell(new VaultEnvelope(new SessionId(1, 2), new Ping(Guid.NewGuid(), 1)), _app.Ref);
        Assert.Equal("not authenticated for this vault", _app.ExpectMsg<Refused>().Reason);
        _guardian.Tell(new RejectedEnvelope("authentication failed", "x"), _app.Ref);
        _app.ExpectMsg<Refused>();
        _guardian.Tell("open main", _app.Ref);
        _app.ExpectMsg<Refused>();
        _guardian.Tell(new VaultEnvelope(_keys.Id, new Pong(Guid.NewGuid(), 1)), _app.Ref);
        _app.ExpectMsg<Refused>();
    }

    [Fact]
    public void Hello_IsWelcomedWithThePublicKeyAndSecureHeapFigures()
    {
        Welcome welcome = Hello();
        using RSA rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(welcome.Keystore.PublicKey, out _);
        Assert.Equal(2048, rsa.KeySize);
        Assert.Equal(Environment.ProcessId, welcome.VaultPid);
        Assert.Equal(0, welcome.Keystore.SecretCount);
    }

    [Fact]
    public void SetVerifyOpenLock_RoundTripThroughTheKeystore()
    {
        Welcome welcome = Hello();
        byte[] secret = [0, 1, 2, 255, 10, 13, .. "sealed and opened"u8];
        Ask<SecretStored>(new SetSecret(Guid.NewGuid(), "db", SealTo(welcome, secret, Protocol.Labels.SetPurpose, "db")));

        Assert.True(Ask<SecretVerified>(new VerifySecret(Guid.NewGuid(), "db", SealTo(welcome, secret, Protocol.Labels.VerifyPurpose, "db"))).Matches);
        Assert.False(Ask<SecretVerified>(new VerifySecret(Guid.NewGuid(), "db", SealTo(welcome, [.. secret, 0], Protocol.Labels.VerifyPurpose, "db"))).Matches);

        Assert.True(Ask<SecretLocked>(new LockSecret(Guid.NewGuid(), "db")).Existed);
        Assert.False(Ask<SecretLocked>(new LockSecret(Guid.NewGuid(), "db")).Existed);
    }

    [Fact]
    public void AFailureOfTheGuardian_RestartsIt_WithItsSessionAndClient_AndTheApplicationHearsOfTheEmptyKeystore()
    {
        Welcome welcome = Hello();
        Ask<SecretStored>(new SetSecret(Guid.NewGuid(), "db", SealTo(welcome, "zeroed"u8.ToArray(), Protocol.Labels.SetPurpose, "db")));
        TestProbe errors = CreateTestProbe();
        Sys.EventStream.Subscribe(errors.Ref, typeof(Akka.Event.Error));

        _guardian.Tell(new InjectGuardianFault("spec"));

        errors.FishForMessage<Akka.Event.Error>(e => e.Cause is InvalidOperationException { Message: var m } && m.Contains("fault injected", StringComparison.Ordinal), KeyTime);
        VaultEnvelope notice = _app.FishForMessage<VaultEnvelope>(e => e.Body is KeystoreReset, KeyTime);
        Assert.Equal(_keys.Id, notice.Session);
        var reset = (KeystoreReset)notice.Body;

        // No new Hello: the restarted guardian still serves the application that said Hello.
        Guid id = Guid.NewGuid();
        _guardian.Tell(new VaultEnvelope(_keys.Id, new Ping(id, 7)), _app.Ref);
        Assert.Equal(id, Reply<Pong>(id).RequestId);
        Assert.Empty(Ask<VaultStatusReply>(new GetVaultStatus(Guid.NewGuid())).Secrets);
        Welcome fresh = welcome with { Keystore = reset.Keystore };
        Assert.Equal(6, Ask<SecretStored>(new SetSecret(Guid.NewGuid(), "db", SealTo(fresh, "second"u8.ToArray(), Protocol.Labels.SetPurpose, "db"))).Length);
    }

    [Fact]
    public void SealedValue_ForAnotherNameOrPurposeOrAlteredOrStale_IsRejected()
    {
        Welcome welcome = Hello();
        byte[] secret = "s3cret"u8.ToArray();
        Assert.Equal(VaultErrorCode.SealedPayloadRejected, Ask<RequestFailed>(new SetSecret(Guid.NewGuid(), "a", SealTo(welcome, secret, Protocol.Labels.SetPurpose, "b"))).Code);
        Assert.Equal(VaultErrorCode.SealedPayloadRejected, Ask<RequestFailed>(new SetSecret(Guid.NewGuid(), "a", SealTo(welcome, secret, Protocol.Labels.VerifyPurpose, "a"))).Code);

        PublicKeySealed altered = SealTo(welcome, secret, Protocol.Labels.SetPurpose, "a");
        altered.Ciphertext[0] ^= 1;
        Assert.Equal(VaultErrorCode.SealedPayloadRejected, Ask<RequestFailed>(new SetSecret(Guid.NewGuid(), "a", altered)).Code);

        Ask<KeypairGenerated>(new GenerateKeypair(Guid.NewGuid(), 2048));
        RequestFailed stale = Ask<RequestFailed>(new SetSecret(Guid.NewGuid(), "a", SealTo(welcome, secret, Protocol.Labels.SetPurpose, "a")));
        Assert.Equal(VaultErrorCode.SealedPayloadRejected, stale.Code);
        Assert.Contains("another public key", stale.Message, StringComparison.Ordinal);
        Assert.Equal(VaultErrorCode.BadRequest, Ask<RequestFailed>(new LockSecret(Guid.NewGuid(), "../etc")).Code);
    }

    [Fact]
    public void GenerateKeypair_RewrapsDataKeys_SecretsStillOpen()
    {
        Welcome welcome = Hello();
        Ask<SecretStored>(new SetSecret(Guid.NewGuid(), "k", SealTo(welcome, "kept"u8.ToArray(), Protocol.Labels.SetPurpose, "k")));
        KeypairGenerated generated = Ask<KeypairGenerated>(new GenerateKeypair(Guid.NewGuid(), 3072));
        Assert.Equal(3072, generated.Keystore.KeyBits);
        Welcome fresh = Hello();
        Assert.True(Ask<SecretVerified>(new VerifySecret(Guid.NewGuid(), "k", SealTo(fresh, "kept"u8.ToArray(), Protocol.Labels.VerifyPurpose, "k"))).Matches);
        Assert.Equal(VaultErrorCode.BadRequest, Ask<RequestFailed>(new GenerateKeypair(Guid.NewGuid(), 1024)).Code);
    }

    [Fact]
    public void ReadSecret_ReaderErrors_AreReportedWithTheirKind()
    {
        Hello();
        RequestFailed missing = Ask<RequestFailed>(Read(SecretSourceKind.File, "/nonexistent/secret"));
        Assert.Equal((VaultErrorCode.SecretInput, (int)SecretInputError.NotFound), (missing.Code, missing.InputError));

        RequestFailed stdin = Ask<RequestFailed>(Read(SecretSourceKind.FileDescriptor, null, fd: 0));
        Assert.Equal((int)SecretInputError.WrongSource, stdin.InputError);

        RequestFailed noName = Ask<RequestFailed>(Read(SecretSourceKind.File, null));
        Assert.Equal(VaultErrorCode.BadRequest, noName.Code);
    }

    [Fact]
    public void ReadSecret_WithConfirmation_MismatchIsRefused_MatchIsStored()
    {
        Hello();
        // Inheritable (no close-on-exec): what a descriptor handed to the vault across exec looks like.
        using (var pipe = new AnonymousPipeServerStream(PipeDirection.Out, HandleInheritability.Inheritable))
        {
            pipe.Write("first\nsecond\n"u8);
            pipe.Flush();
            int fd = (int)pipe.ClientSafePipeHandle.DangerousGetHandle();
            RequestFailed mismatch = Ask<RequestFailed>(Read(SecretSourceKind.FileDescriptor, null, fd: fd, confirm: true));
            Assert.Equal(VaultErrorCode.ConfirmationMismatch, mismatch.Code);
        }

        using (var pipe = new AnonymousPipeServerStream(PipeDirection.Out, HandleInheritability.Inheritable))
        {
            pipe.Write("same\nsame\n"u8);
            pipe.Flush();
            int fd = (int)pipe.ClientSafePipeHandle.DangerousGetHandle();
            Assert.Equal(4, Ask<SecretStored>(Read(SecretSourceKind.FileDescriptor, null, fd: fd, confirm: true)).Length);
        }
    }

    [Fact]
    public void KeystoreFailure_ZeroesItsSecrets_AndAnEmptyKeystoreTakesOver()
    {
        Welcome welcome = Hello();
        int baseline = SecretMemory.Status.LiveBuffers;
        Ask<SecretStored>(new SetSecret(Guid.NewGuid(), "one", SealTo(welcome, "1"u8.ToArray(), Protocol.Labels.SetPurpose, "one")));
        Ask<SecretStored>(new SetSecret(Guid.NewGuid(), "two", SealTo(welcome, "2"u8.ToArray(), Protocol.Labels.SetPurpose, "two")));
        Assert.Equal(baseline + 2, SecretMemory.Status.LiveBuffers); // one data key per secret

        // A request the keystore cannot handle (a null payload) makes it throw while it holds both data keys.
        Guid boom = Guid.NewGuid();
        _guardian.Tell(new VaultEnvelope(_keys.Id, new SetSecret(boom, "boom", null!)), _app.Ref);
        Assert.Equal(VaultErrorCode.KeystoreUnavailable, Reply<RequestFailed>(boom).Code); // answered, not left to time out

        KeystoreReset reset = _app.ExpectMsg<VaultEnvelope>(KeyTime).Body as KeystoreReset ?? throw new InvalidOperationException("expected KeystoreReset");
        Assert.Contains("zeroed", reset.Reason, StringComparison.Ordinal);
        Assert.True(reset.Keystore.PublicKey.Length > 0, "the reset carries the new public key");
        AwaitAssert(() => Assert.Equal(baseline, SecretMemory.Status.LiveBuffers), KeyTime);
        VaultStatusReply status = Ask<VaultStatusReply>(new GetVaultStatus(Guid.NewGuid()));
        Assert.Empty(status.Secrets);
        Assert.True(status.Keystore.KeyBits == 2048 && status.Keystore.PublicKey.Length > 0, "a fresh keypair");
        Assert.False(status.Keystore.PublicKey.AsSpan().SequenceEqual(welcome.Keystore.PublicKey), "never restarted with the old key");
    }

    protected override void AfterAll()
    {
        base.AfterAll();
        _keys.Dispose();
    }

    private static ReadSecret Read(SecretSourceKind source, string? path, int fd = -1, bool confirm = false) =>
        new(Guid.NewGuid(), path is null && source == SecretSourceKind.File ? "bad name!" : "read", source, path, fd, string.Empty, confirm, string.Empty, 64);

    private static PublicKeySealed SealTo(Welcome welcome, byte[] secret, string purpose, string name)
    {
        using RSA rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(welcome.Keystore.PublicKey, out _);
        return PublicKeySealing.Seal(rsa, PublicKeySealing.Fingerprint(welcome.Keystore.PublicKey), secret, purpose, name);
    }

    private Welcome Hello() => Ask<Welcome>(new Hello(Guid.NewGuid(), 1));

    private T Ask<T>(IVaultRequest request)
        where T : IVaultReply
    {
        _guardian.Tell(new VaultEnvelope(_keys.Id, request), _app.Ref);
        return Reply<T>(request.RequestId);
    }

    private T Reply<T>(Guid? requestId = null)
        where T : IVaultReply
    {
        VaultEnvelope envelope = _app.ExpectMsg<VaultEnvelope>(KeyTime);
        Assert.Equal(_keys.Id, envelope.Session);
        T reply = Assert.IsType<T>(envelope.Body);
        if (requestId is { } id)
        {
            Assert.Equal(id, reply.RequestId);
        }

        return reply;
    }
}
