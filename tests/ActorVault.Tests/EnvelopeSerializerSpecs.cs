using Akka.Actor;
using ActorVault.Crypto;
using ActorVault.Memory;
using ActorVault.Protocol;
using ActorVault.Serialization;

namespace ActorVault.Tests;

/// <summary>The envelope layer: AES-256-GCM under the session key, direction, replay window, refusal instead of exceptions.</summary>
public sealed class EnvelopeSerializerSpecs : Akka.TestKit.Xunit2.TestKit
{
    private readonly ActorSystem _vaultSide;
    private readonly SessionKeys _clientKeys;
    private readonly EnvelopeSerializer _client;
    private readonly EnvelopeSerializer _vault;

    public EnvelopeSerializerSpecs()
        : base(SpecConfig.Client)
    {
        _vaultSide = ActorSystem.Create("vault-side", SpecConfig.Vault);
        using SecretBuffer bootstrap = SessionKeys.NewBootstrap();
        _clientKeys = SessionKeys.Derive(bootstrap);
        SessionKeyRing.For(Sys).Add(_clientKeys);
        SessionKeyRing.For(_vaultSide).Add(SessionKeys.Derive(bootstrap));
        _client = new EnvelopeSerializer((ExtendedActorSystem)Sys);
        _vault = new EnvelopeSerializer((ExtendedActorSystem)_vaultSide);
    }

    [Fact]
    public void Envelope_SealedByClient_OpensOnlyOnTheVaultSide()
    {
        var hello = new Hello(Guid.NewGuid(), 42);
        byte[] frame = _client.ToBinary(new VaultEnvelope(_clientKeys.Id, hello));

        var opened = Assert.IsType<VaultEnvelope>(_vault.FromBinary(frame, "E1"));
        Assert.Equal(_clientKeys.Id, opened.Session);
        Assert.Equal(hello, opened.Body);

        // The same frame reflected back at the client is refused (wrong direction).
        var reflected = Assert.IsType<RejectedEnvelope>(_client.FromBinary(frame, "E1"));
        Assert.Equal("wrong direction", reflected.Reason);
    }

    [Fact]
    public void Envelope_BodyIsNotReadableOnTheWire()
    {
        byte[] frame = _client.ToBinary(new VaultEnvelope(_clientKeys.Id, new LockSecret(Guid.NewGuid(), "a-distinctive-secret-name")));
        Assert.Equal(-1, frame.AsSpan().IndexOf("a-distinctive-secret-name"u8));
    }

    [Fact]
    public void Envelope_Replayed_IsRefusedOnce_OutOfOrderWithinTheWindowIsAccepted()
    {
        byte[] first = _client.ToBinary(new VaultEnvelope(_clientKeys.Id, new Ping(Guid.NewGuid(), 1)));
        byte[] second = _client.ToBinary(new VaultEnvelope(_clientKeys.Id, new Ping(Guid.NewGuid(), 2)));
        byte[] third = _client.ToBinary(new VaultEnvelope(_clientKeys.Id, new Ping(Guid.NewGuid(), 3)));

        Assert.IsType<VaultEnvelope>(_vault.FromBinary(third, "E1"));
        Assert.IsType<VaultEnvelope>(_vault.FromBinary(first, "E1"));
        Assert.IsType<VaultEnvelope>(_vault.FromBinary(second, "E1"));
        Assert.Equal("replayed frame", Assert.IsType<RejectedEnvelope>(_vault.FromBinary(first, "E1")).Reason);
        Assert.Equal("replayed frame", Assert.IsType<RejectedEnvelope>(_vault.FromBinary(third, "E1")).Reason);
    }

    [Fact]
    public void Envelope_TamperedOrForged_IsRefusedWithoutDecodingTheBody()
    {
        byte[] frame = _client.ToBinary(new VaultEnvelope(_clientKeys.Id, new GetVaultStatus(Guid.NewGuid())));

        for (int i = 0; i < frame.Length; i += 7)
        {
            byte[] tampered = [.. frame];
            tampered[i] ^= 0x40;
            object result = _vault.FromBinary(tampered, "E1");
            Assert.IsType<RejectedEnvelope>(result);
        }

        // A session key of someone else's making, under the real session's (public) id.
        using SecretBuffer otherBootstrap = SessionKeys.NewBootstrap();
        using SessionKeys other = SessionKeys.Derive(otherBootstrap);
        byte[] forged = EnvelopeSerializer.Seal(other, LinkDirection.ClientToVault, [1, 2, 3]);
        _clientKeys.Id.Write(forged.AsSpan(1, SessionId.Size));
        Assert.Equal("authentication failed", Assert.IsType<RejectedEnvelope>(_vault.FromBinary(forged, "E1")).Reason);

        byte[] unknown = EnvelopeSerializer.Seal(other, LinkDirection.ClientToVault, [1, 2, 3]);
        Assert.Equal("unknown session", Assert.IsType<RejectedEnvelope>(_vault.FromBinary(unknown, "E1")).Reason);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(EnvelopeSerializer.HeaderSize)]
    [InlineData(EnvelopeSerializer.HeaderSize + 15)]
    public void Envelope_TooShortOrWrongManifest_IsMalformed(int length)
    {
        byte[] bytes = new byte[length];
        if (length > 0)
        {
            bytes[0] = EnvelopeSerializer.Version;
        }

        Assert.Equal("malformed frame", Assert.IsType<RejectedEnvelope>(_vault.FromBinary(bytes, "E1")).Reason);
        Assert.Equal("malformed frame", Assert.IsType<RejectedEnvelope>(_vault.FromBinary(_client.ToBinary(new VaultEnvelope(_clientKeys.Id, new Ping(Guid.NewGuid(), 9))), "E2")).Reason);
    }

    [Fact]
    public void Envelope_ForAClosedSession_FailsToSerializeAndIsRefusedInbound()
    {
        byte[] frame = _client.ToBinary(new VaultEnvelope(_clientKeys.Id, new Ping(Guid.NewGuid(), 1)));
        SessionKeyRing.For(_vaultSide).Remove(_clientKeys.Id);
        Assert.Equal("unknown session", Assert.IsType<RejectedEnvelope>(_vault.FromBinary(frame, "E1")).Reason);

        SessionKeyRing.For(Sys).Remove(_clientKeys.Id);
        Assert.True(_clientKeys.IsDisposed, "removing a session zeroes its keys");
        Assert.Throws<System.Runtime.Serialization.SerializationException>(() => _client.ToBinary(new VaultEnvelope(_clientKeys.Id, new Ping(Guid.NewGuid(), 2))));
    }

    protected override void AfterAll()
    {
        _vaultSide.Terminate().Wait(TimeSpan.FromSeconds(10));
        base.AfterAll();
    }
}
