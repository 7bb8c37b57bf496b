using Akka.Actor;
using ActorVault.Crypto;
using ActorVault.Memory;
using ActorVault.Protocol;
using ActorVault.Serialization;
using ActorVault.Standalone;
using Microsoft.Extensions.Time.Testing;

namespace ActorVault.Tests;

/// <summary>
/// The standalone host's session admission: a client proves the client key by sealing its first frame
/// under keys derived from it; stale, retired (replayed) and excess sessions are refused and leave
/// nothing behind; each client session has its own keys.
/// </summary>
public sealed class HostSessionSpecs : Akka.TestKit.Xunit2.TestKit
{
    private readonly ActorSystem _hostSide;
    private readonly SecretBuffer _clientKey;
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly HostSessions _sessions;
    private readonly EnvelopeSerializer _host;
    private readonly SessionKeyRing _hostRing;
    private readonly List<ActorSystem> _clients = [];

    public HostSessionSpecs()
        : base(SpecConfig.Client)
    {
        _hostSide = ActorSystem.Create("host-side", SpecConfig.Vault);
        _clientKey = Aead.NewKey();
        _hostRing = SessionKeyRing.For(_hostSide);
        using (SecretBuffer.Scope key = _clientKey.Open())
        {
            SecretBuffer copy = SecretMemory.Allocate(key.Bytes.Length);
            using (SecretBuffer.Scope to = copy.Open())
            {
                key.Bytes.CopyTo(to.WritableBytes);
            }

            _sessions = new HostSessions(copy, _hostRing, maxSessions: 3, clockSkew: TimeSpan.FromMinutes(2), _time);
        }

        _hostRing.Admission = _sessions;
        _host = new EnvelopeSerializer((ExtendedActorSystem)_hostSide);
    }

    [Fact]
    public void AFrameSealedUnderTheClientKey_OpensASession_AndOnlyItsOwn()
    {
        (EnvelopeSerializer client, SessionKeys keys) = Client(_clientKey, _time.GetUtcNow());
        byte[] frame = client.ToBinary(new VaultEnvelope(keys.Id, new Ping(Guid.NewGuid(), 1)));

        var opened = Assert.IsType<VaultEnvelope>(_host.FromBinary(frame, "E1"));
        Assert.Equal(keys.Id, opened.Session);
        Assert.Equal(1, _hostRing.Count);
        Assert.Equal(1, _sessions.Open);

        // The same frame again is a replay of an open session.
        Assert.Equal("replayed frame", Assert.IsType<RejectedEnvelope>(_host.FromBinary(frame, "E1")).Reason);

        // A second client's keys differ (its own session id), so its frames do not open the first session's.
        (EnvelopeSerializer other, SessionKeys otherKeys) = Client(_clientKey, _time.GetUtcNow());
        Assert.NotEqual(keys.Id, otherKeys.Id);
        Assert.IsType<VaultEnvelope>(_host.FromBinary(other.ToBinary(new VaultEnvelope(otherKeys.Id, new Ping(Guid.NewGuid(), 1))), "E1"));
        Assert.Equal(2, _sessions.Open);

        // A frame of the second client relabelled with the first client's session id does not open.
        byte[] relabelled = other.ToBinary(new VaultEnvelope(otherKeys.Id, new HostLease(Guid.NewGuid(), "password", 1000)));
        keys.Id.Write(relabelled.AsSpan(1, SessionId.Size));
        Assert.Equal("authentication failed", Assert.IsType<RejectedEnvelope>(_host.FromBinary(relabelled, "E1")).Reason);
    }

    [Fact]
    public void AnotherKey_IsRefused_AndLeavesNoSession()
    {
        using SecretBuffer wrong = Aead.NewKey();
        (EnvelopeSerializer client, SessionKeys keys) = Client(wrong, _time.GetUtcNow());
        for (int i = 0; i < 100; i++)
        {
            byte[] frame = client.ToBinary(new VaultEnvelope(keys.Id, new HostStop(Guid.NewGuid())));
            Assert.Equal("authentication failed", Assert.IsType<RejectedEnvelope>(_host.FromBinary(frame, "E1")).Reason);
        }

        Assert.Equal(0, _hostRing.Count);
        Assert.Equal(0, _sessions.Open);
    }

    [Fact]
    public void AStaleOrFutureSessionId_IsRefused_EvenWithTheRightKey()
    {
        foreach (TimeSpan offset in new[] { TimeSpan.FromMinutes(-3), TimeSpan.FromMinutes(3) })
        {
            (EnvelopeSerializer client, SessionKeys keys) = Client(_clientKey, _time.GetUtcNow() + offset);
            byte[] frame = client.ToBinary(new VaultEnvelope(keys.Id, new Ping(Guid.NewGuid(), 1)));
            Assert.Equal("stale or future session id", Assert.IsType<RejectedEnvelope>(_host.FromBinary(frame, "E1")).Reason);
        }

        Assert.Equal(0, _hostRing.Count);
    }

    [Fact]
    public void ARetiredSession_CannotBeReopenedByReplayingItsFrames()
    {
        (EnvelopeSerializer client, SessionKeys keys) = Client(_clientKey, _time.GetUtcNow());
        byte[] first = client.ToBinary(new VaultEnvelope(keys.Id, new HostLease(Guid.NewGuid(), "password", 1000)));
        Assert.IsType<VaultEnvelope>(_host.FromBinary(first, "E1"));

        _sessions.Retire(keys.Id);
        Assert.Equal(0, _hostRing.Count);
        Assert.Equal("retired session id", Assert.IsType<RejectedEnvelope>(_host.FromBinary(first, "E1")).Reason);

        // Still inside the freshness window after a sweep: remembered as retired, refused as such.
        _time.Advance(TimeSpan.FromSeconds(90));
        _sessions.Sweep(TimeSpan.FromMinutes(10));
        Assert.Equal("retired session id", Assert.IsType<RejectedEnvelope>(_host.FromBinary(first, "E1")).Reason);

        // Once the id is too old to pass the freshness test, it is forgotten and still refused (as stale).
        _time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(0, _sessions.Sweep(TimeSpan.FromMinutes(10)));
        Assert.Equal("stale or future session id", Assert.IsType<RejectedEnvelope>(_host.FromBinary(first, "E1")).Reason);
    }

    [Fact]
    public void SessionsAreBounded_AndIdleOnesAreClosed()
    {
        for (int i = 0; i < 3; i++)
        {
            (EnvelopeSerializer c, SessionKeys k) = Client(_clientKey, _time.GetUtcNow());
            Assert.IsType<VaultEnvelope>(_host.FromBinary(c.ToBinary(new VaultEnvelope(k.Id, new Ping(Guid.NewGuid(), 1))), "E1"));
        }

        (EnvelopeSerializer fourth, SessionKeys fourthKeys) = Client(_clientKey, _time.GetUtcNow());
        byte[] frame = fourth.ToBinary(new VaultEnvelope(fourthKeys.Id, new Ping(Guid.NewGuid(), 1)));
        Assert.Equal("too many open sessions", Assert.IsType<RejectedEnvelope>(_host.FromBinary(frame, "E1")).Reason);

        _time.Advance(TimeSpan.FromMinutes(6));
        Assert.Equal(3, _sessions.Sweep(TimeSpan.FromMinutes(5)));
        Assert.Equal(0, _hostRing.Count);
        (EnvelopeSerializer fifth, SessionKeys fifthKeys) = Client(_clientKey, _time.GetUtcNow());
        Assert.IsType<VaultEnvelope>(_host.FromBinary(fifth.ToBinary(new VaultEnvelope(fifthKeys.Id, new Ping(Guid.NewGuid(), 1))), "E1"));
    }

    [Fact]
    public void CandidatesInFlight_CountAgainstTheCap_UntilTheyAreAdmittedOrAbandoned()
    {
        SessionId[] ids = [.. Enumerable.Range(0, 4).Select(_ => SessionKeys.NewHostSessionId(_time.GetUtcNow()))];
        using SessionKeys? a = _sessions.Candidate(ids[0], out _);
        using SessionKeys? b = _sessions.Candidate(ids[1], out _);
        using SessionKeys? c = _sessions.Candidate(ids[2], out _);
        Assert.NotNull(c);
        Assert.Null(_sessions.Candidate(ids[3], out string? reason));
        Assert.Equal("too many open sessions", reason);

        _sessions.Abandoned(ids[2]);
        using SessionKeys? d = _sessions.Candidate(ids[3], out _);
        Assert.NotNull(d);
    }

    protected override void AfterAll()
    {
        _sessions.Dispose();
        _clientKey.Dispose();
        _hostSide.Terminate().Wait(TimeSpan.FromSeconds(10));
        Task.WaitAll([.. _clients.Select(c => c.Terminate())], TimeSpan.FromSeconds(10));
        base.AfterAll();
    }

    private (EnvelopeSerializer Serializer, SessionKeys Keys) Client(SecretBuffer clientKey, DateTimeOffset at)
    {
        ActorSystem system = ActorSystem.Create("client-" + Guid.NewGuid().ToString("N")[..8], SpecConfig.Client);
        SessionKeys keys = SessionKeys.DeriveHostSession(clientKey, SessionKeys.NewHostSessionId(at));
        _clients.Add(system);
        SessionKeyRing.For(system).Add(keys);
        return (new EnvelopeSerializer((ExtendedActorSystem)system), keys);
    }
}
