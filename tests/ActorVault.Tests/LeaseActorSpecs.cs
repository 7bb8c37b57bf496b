using System.Security.Cryptography;
using Akka.Actor;
using Akka.TestKit;
using ActorVault.Crypto;
using ActorVault.Memory;
using ActorVault.Protocol;
using ActorVault.Serialization;
using ActorVault.Vault;

namespace ActorVault.Tests;

/// <summary>The vault's LeaseActor through its guardian: grants, deadlines, revoke, caps, lock, audit.</summary>
public sealed class LeaseActorSpecs : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private readonly SessionKeys _keys;
    private readonly IActorRef _guardian;
    private readonly TestProbe _app;
    private readonly TestProbe _audit;

    public LeaseActorSpecs()
        : base(SpecConfig.Vault)
    {
        using SecretBuffer bootstrap = SessionKeys.NewBootstrap();
        _keys = SessionKeys.Derive(bootstrap);
        SessionKeyRing.For(Sys).Add(_keys);
        var settings = new VaultSettings(2048, 4096, 8) { Leases = new LeaseSettings(MaxPerSession: 2, MaxTtl: TimeSpan.FromMinutes(1)) };
        _guardian = Sys.ActorOf(VaultGuardian.Props(_keys.Id, settings), VaultGuardian.Name);
        _app = CreateTestProbe("app");
        _audit = CreateTestProbe("audit");
        Sys.EventStream.Subscribe(_audit.Ref, typeof(LeaseAuditEvent));

        Welcome welcome = Ask<Welcome>(new Hello(Guid.NewGuid(), 1));
        using RSA rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(welcome.Keystore.PublicKey, out _);
        PublicKeySealed sealedValue = PublicKeySealing.Seal(rsa, PublicKeySealing.Fingerprint(welcome.Keystore.PublicKey), "leased bytes"u8, Protocol.Labels.SetPurpose, "main");
        Ask<SecretStored>(new SetSecret(Guid.NewGuid(), "main", sealedValue));
    }

    [Fact]
    public void Grant_SealsToTheSessionBoundToTheLease_ReleaseIsAudited()
    {
        LeaseGranted granted = Ask<LeaseGranted>(new AcquireLease(Guid.NewGuid(), "main", 10_000));
        byte[] plain = new byte[granted.Ciphertext.Length];
        Assert.True(Aead.TryDecrypt(_keys.PayloadKey, granted.Nonce, granted.Ciphertext, granted.Tag, plain, Protocol.Labels.Lease("main", granted.LeaseId)));
        Assert.Equal("leased bytes"u8.ToArray(), plain);
        Assert.False(Aead.TryDecrypt(_keys.PayloadKey, granted.Nonce, granted.Ciphertext, granted.Tag, plain, Protocol.Labels.Lease("main", Guid.NewGuid())), "bound to its lease id");

        Assert.Equal(LeaseAuditKind.Granted, _audit.ExpectMsg<LeaseAuditEvent>(Wait).Kind);
        _guardian.Tell(new VaultEnvelope(_keys.Id, new LeaseReleased(granted.LeaseId, 1234, "returned")), _app.Ref);
        LeaseAuditEvent released = _audit.ExpectMsg<LeaseAuditEvent>(Wait);
        Assert.Equal((LeaseAuditKind.Released, granted.LeaseId, "main"), (released.Kind, released.LeaseId, released.SecretName));
        Assert.DoesNotContain("leased bytes", released.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void EveryGrantAndRefusal_IsAuditedBeforeItsAnswerLeaves()
    {
        for (int i = 0; i < 20; i++)
        {
            LeaseGranted granted = Ask<LeaseGranted>(new AcquireLease(Guid.NewGuid(), "main", 10_000));
            // The audit event was published (enqueued to its subscriber) before the grant was sent.
            Assert.True(_audit.HasMessages, $"grant {i} reached the application before its audit event");
            LeaseAuditEvent audit = _audit.ExpectMsg<LeaseAuditEvent>(Wait);
            Assert.Equal((LeaseAuditKind.Granted, granted.LeaseId), (audit.Kind, audit.LeaseId));
            _guardian.Tell(new VaultEnvelope(_keys.Id, new LeaseReleased(granted.LeaseId, 1, "returned")), _app.Ref);
            _audit.ExpectMsg<LeaseAuditEvent>(e => e.Kind == LeaseAuditKind.Released, Wait);

            Assert.Equal(VaultErrorCode.SecretNotFound, Ask<RequestFailed>(new AcquireLease(Guid.NewGuid(), "absent", 10_000)).Code);
            Assert.True(_audit.HasMessages, $"refusal {i} reached the application before its audit event");
            Assert.Equal(LeaseAuditKind.Refused, _audit.ExpectMsg<LeaseAuditEvent>(Wait).Kind);
        }
    }

    [Fact]
    public void Deadline_WithoutRelease_ExpiresAndTellsTheApplication()
    {
        LeaseGranted granted = Ask<LeaseGranted>(new AcquireLease(Guid.NewGuid(), "main", 200));
        LeaseExpired expired = Assert.IsType<LeaseExpired>(_app.ExpectMsg<VaultEnvelope>(Wait).Body);
        Assert.Equal(granted.LeaseId, expired.LeaseId);
        _audit.FishForMessage(m => m is LeaseAuditEvent { Kind: LeaseAuditKind.Expired }, Wait);
    }

    [Fact]
    public void Revoke_OneThenAll_NotifiesEachLease()
    {
        LeaseGranted one = Ask<LeaseGranted>(new AcquireLease(Guid.NewGuid(), "main", 10_000));
        LeaseGranted two = Ask<LeaseGranted>(new AcquireLease(Guid.NewGuid(), "main", 10_000));

        Guid request = Guid.NewGuid();
        _guardian.Tell(new VaultEnvelope(_keys.Id, new RevokeLeases(request, one.LeaseId, null)), _app.Ref);
        Assert.Equal(one.LeaseId, Assert.IsType<LeaseRevoked>(_app.ExpectMsg<VaultEnvelope>(Wait).Body).LeaseId);
        Assert.Equal(1, Assert.IsType<LeasesRevoked>(_app.ExpectMsg<VaultEnvelope>(Wait).Body).Count);

        _guardian.Tell(new VaultEnvelope(_keys.Id, new RevokeLeases(Guid.NewGuid(), Guid.Empty, null)), _app.Ref);
        Assert.Equal(two.LeaseId, Assert.IsType<LeaseRevoked>(_app.ExpectMsg<VaultEnvelope>(Wait).Body).LeaseId);
        Assert.Equal(1, Assert.IsType<LeasesRevoked>(_app.ExpectMsg<VaultEnvelope>(Wait).Body).Count);
    }

    [Fact]
    public void Cap_PerSession_RefusesTheThirdLeaseClearly()
    {
        Ask<LeaseGranted>(new AcquireLease(Guid.NewGuid(), "main", 10_000));
        Ask<LeaseGranted>(new AcquireLease(Guid.NewGuid(), "main", 10_000));
        RequestFailed third = Ask<RequestFailed>(new AcquireLease(Guid.NewGuid(), "main", 10_000));
        Assert.Equal(VaultErrorCode.Busy, third.Code);
        Assert.Contains("maximum is 2", third.Message, StringComparison.Ordinal);
        _audit.FishForMessage(m => m is LeaseAuditEvent { Kind: LeaseAuditKind.Refused }, Wait);
    }

    [Fact]
    public void AbsurdTtlOrName_AreBadRequests()
    {
        Assert.Equal(VaultErrorCode.BadRequest, Ask<RequestFailed>(new AcquireLease(Guid.NewGuid(), "main", 0)).Code);
        Assert.Equal(VaultErrorCode.BadRequest, Ask<RequestFailed>(new AcquireLease(Guid.NewGuid(), "main", long.MaxValue)).Code);
        Assert.Equal(VaultErrorCode.BadRequest, Ask<RequestFailed>(new AcquireLease(Guid.NewGuid(), new string('x', 5000), 1000)).Code);
    }

    [Fact]
    public void Lock_RevokesTheSecretsLeases_LaterLeasesAreRefusedAsLocked()
    {
        LeaseGranted granted = Ask<LeaseGranted>(new AcquireLease(Guid.NewGuid(), "main", 10_000));
        _guardian.Tell(new VaultEnvelope(_keys.Id, new LockSecret(Guid.NewGuid(), "main")), _app.Ref);
        Assert.Equal(granted.LeaseId, Assert.IsType<LeaseRevoked>(_app.ExpectMsg<VaultEnvelope>(Wait).Body).LeaseId);
        Assert.True(Assert.IsType<SecretLocked>(_app.ExpectMsg<VaultEnvelope>(Wait).Body).Existed);
        Assert.Equal(VaultErrorCode.SecretLocked, Ask<RequestFailed>(new AcquireLease(Guid.NewGuid(), "main", 1000)).Code);
        Assert.Equal(VaultErrorCode.SecretNotFound, Ask<RequestFailed>(new AcquireLease(Guid.NewGuid(), "other", 1000)).Code);
    }

    [Fact]
    public void LeaseRequestsOfAForeignSession_AreRefused()
    {
        _guardian.Tell(new VaultEnvelope(new SessionId(7, 7), new AcquireLease(Guid.NewGuid(), "main", 1000)), _app.Ref);
        _app.ExpectMsg<Refused>(Wait);
        _guardian.Tell(new VaultEnvelope(new SessionId(7, 7), new LeaseReleased(Guid.NewGuid(), 1, "forged")), _app.Ref);
        _app.ExpectMsg<Refused>(Wait);
    }

    protected override void AfterAll()
    {
        base.AfterAll();
        _keys.Dispose();
    }

    private T Ask<T>(IVaultRequest request)
        where T : IVaultReply
    {
        _guardian.Tell(new VaultEnvelope(_keys.Id, request), _app.Ref);
        VaultEnvelope envelope = _app.ExpectMsg<VaultEnvelope>(Wait);
        T reply = Assert.IsType<T>(envelope.Body);
        Assert.Equal(request.RequestId, reply.RequestId);
        return reply;
    }
}
