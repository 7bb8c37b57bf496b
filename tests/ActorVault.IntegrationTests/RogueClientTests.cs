using Akka.Actor;
using ActorVault.Configuration;
using ActorVault.Crypto;
using ActorVault.Protocol;
using ActorVault.Serialization;

namespace ActorVault.IntegrationTests;

/// <summary>
/// Hostile messages on the vault link itself. No other process can reach the vault (it has no
/// listening address; see <see cref="LinkBoundaryTests"/>), so the rogue here is the one peer that can:
/// the application's own link system, with Akka's stock serializers put back (so that it really sends
/// <c>Kill</c>, <c>PoisonPill</c> and system messages), forged frames, and a session key of its own.
/// </summary>
public sealed class RogueClientTests : IAsyncLifetime
{
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan SilenceWindow = TimeSpan.FromSeconds(2);
    private VaultClient _client = null!;
    private ActorSystem _rogue = null!;
    private SessionKeys _rogueKeys = null!;
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _vaultLog = new();

    public async Task InitializeAsync()
    {
        _client = await VaultClient.StartAsync(new VaultClientOptions { VaultLog = _vaultLog.Enqueue }, Client.VaultProcessLauncher.Instance, StockAkkaSerializers.WithFallback(ForgedFrameSerializer.Config), null, CancellationToken.None);
        await _client.SetSecretAsync("main", "legitimate secret"u8.ToArray().AsSpan());
        _rogue = _client.LinkSystem;
        using Memory.SecretBuffer bootstrap = SessionKeys.NewBootstrap();
        _rogueKeys = SessionKeys.Derive(bootstrap);
        SessionKeyRing.For(_rogue).Add(_rogueKeys);
    }

    public async Task DisposeAsync() => await _client.DisposeAsync();

    /// <summary>Akka.Remote's own serializers, as a sender without ActorVault's wire filter has them.</summary>
    private static readonly Akka.Configuration.Config StockAkkaSerializers = Akka.Configuration.ConfigurationFactory.ParseString(
        """
        akka.actor.serializers {
          akka-misc = "Akka.Remote.Serialization.MiscMessageSerializer, Akka.Remote"
          akka-system-msg = "Akka.Remote.Serialization.SystemMessageSerializer, Akka.Remote"
        }
        akka.actor.serialization-identifiers {
          "Akka.Remote.Serialization.MiscMessageSerializer, Akka.Remote" = 16
          "Akka.Remote.Serialization.SystemMessageSerializer, Akka.Remote" = 22
        }
        """);

    [Fact]
    public async Task EnvelopeUnderAnotherKey_IsRefused_WithNothingButARefusal()
    {
        object answer = await _rogue.ActorSelection(_client.GuardianPath).Ask<object>(new VaultEnvelope(_rogueKeys.Id, new AcquireLease(Guid.NewGuid(), "main", 1000)), AnswerTimeout);
        Refused refused = Assert.IsType<Refused>(answer);
        Assert.Equal("not authenticated for this vault", refused.Reason);
    }

    [Fact]
    public async Task EnvelopeClaimingTheRealSessionButSealedWithAnotherKey_IsRefused()
    {
        // Forge: the real session id (public) in the header, a body sealed under the rogue's key.
        SessionId real = (await _client.Supervisor.Ask<Client.SupervisorProtocol.Snapshot>(Client.SupervisorProtocol.GetSnapshot.Instance, AnswerTimeout)).Session!.Value;
        byte[] body = new ProtocolSerializer((ExtendedActorSystem)_rogue).ToBinary(new AcquireLease(Guid.NewGuid(), "main", 1000));
        byte[] frame = EnvelopeSerializer.Seal(_rogueKeys, LinkDirection.ClientToVault, body);
        real.Write(frame.AsSpan(1, SessionId.Size));

        object answer = await _rogue.ActorSelection(_client.GuardianPath).Ask<object>(new ForgedFrame(frame), AnswerTimeout);

        Assert.IsType<Refused>(answer);
        Assert.True(await _client.VerifySecretAsync("main", "legitimate secret"u8.ToArray()));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(25)]
    [InlineData(43)]
    [InlineData(5000)]
    public async Task RandomBytesAsAnEnvelopeFrame_AreRefused(int length)
    {
        byte[] frame = System.Security.Cryptography.RandomNumberGenerator.GetBytes(length);
        if (length > 0)
        {
            frame[0] = EnvelopeSerializer.Version;
        }

        Assert.IsType<Refused>(await _rogue.ActorSelection(_client.GuardianPath).Ask<object>(new ForgedFrame(frame), AnswerTimeout));
        Assert.True(await _client.VerifySecretAsync("main", "legitimate secret"u8.ToArray()));
    }

    [Fact]
    public async Task BareMessages_AreRefused()
    {
        Assert.IsType<Refused>(await _rogue.ActorSelection(_client.GuardianPath).Ask<object>("status", AnswerTimeout));
        Assert.IsType<Refused>(await _rogue.ActorSelection(_client.GuardianPath).Ask<object>(new byte[] { 1, 2, 3 }, AnswerTimeout));
    }

    [Fact]
    public async Task StopKillPoisonAndChildSelection_AreDropped_AndTheVaultKeepsServing()
    {
        ActorIdentity identity = await _rogue.ActorSelection(_client.GuardianPath).Ask<ActorIdentity>(new Identify(1), AnswerTimeout);
        IActorRef guardian = identity.Subject!;
        Task<int> legitimate = LegitimateLoop();

        guardian.Tell(PoisonPill.Instance);
        await AssertStillServing("PoisonPill");
        guardian.Tell(Kill.Instance);
        await AssertStillServing("Kill");
        _rogue.Stop(guardian);
        await AssertStillServing("Stop");
        _rogue.ActorSelection(_client.GuardianPath).Tell(PoisonPill.Instance);
        _rogue.ActorSelection(_client.GuardianPath).Tell(Kill.Instance);
        await AssertStillServing("selection PoisonPill/Kill");
        IActorRef keystore = ((ExtendedActorSystem)_rogue).Provider.ResolveActorRef(_client.GuardianPath + "/keystore-1");
        keystore.Tell(Kill.Instance);
        keystore.Tell(PoisonPill.Instance);
        _rogue.Stop(keystore);
        await AssertStillServing("keystore Kill/PoisonPill/Stop");

        // Every guardian of the vault's system, by reference and by selection.
        string root = _client.GuardianPath[..^"/user/vault".Length];
        int pid = _client.VaultPid;
        foreach (string path in (string[])[root + "/user", root + "/system", root + "/", root + "/system/remote-watcher", root + "/remote"])
        {
            IActorRef target = ((ExtendedActorSystem)_rogue).Provider.ResolveActorRef(path);
            target.Tell(Kill.Instance);
            target.Tell(PoisonPill.Instance);
            _rogue.Stop(target);
            _rogue.ActorSelection(path).Tell(Kill.Instance);
            _rogue.ActorSelection(path).Tell(PoisonPill.Instance);
            await AssertStillServing($"Kill/PoisonPill/Stop to {path}");
            Assert.Equal(pid, _client.VaultPid);
        }

        Assert.Contains(_vaultLog, l => l.Contains("refused an inbound akka-misc message 'K'", StringComparison.Ordinal));
        Assert.Contains(_vaultLog, l => l.Contains("refused an inbound akka-misc message 'PP'", StringComparison.Ordinal));

        // Untrusted mode: only /user/vault is selectable; its children and system actors are not.
        string child = _client.GuardianPath + "/keystore-1";
        await Assert.ThrowsAsync<AskTimeoutException>(() => _rogue.ActorSelection(child).Ask<object>(new VaultEnvelope(_rogueKeys.Id, new GetVaultStatus(Guid.NewGuid())), SilenceWindow));
        await Assert.ThrowsAsync<AskTimeoutException>(() => _rogue.ActorSelection(_client.GuardianPath + "/*").Ask<object>(new Identify(2), SilenceWindow));

        Assert.True(await legitimate > 0);
        Assert.True(await _client.VerifySecretAsync("main", "legitimate secret"u8.ToArray()));
        ActorIdentity still = await _rogue.ActorSelection(_client.GuardianPath).Ask<ActorIdentity>(new Identify(3), AnswerTimeout);
        Assert.NotNull(still.Subject);
    }

    private async Task AssertStillServing(string attack)
    {
        // The guardian and the keystore both take part in a verify; the secret is still there.
        bool ok;
        try
        {
            ok = await _client.VerifySecretAsync("main", "legitimate secret"u8.ToArray());
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"after {attack}: {e.Message}");
        }

        Assert.True(ok, $"after {attack}");
        Assert.Equal(VaultState.Unlocked, _client.State);
    }

    [Fact]
    public async Task AMessageNamingTheGuardianAsItsOwnSender_IsRefusedOnce_NotInALoop()
    {
        ActorIdentity identity = await _rogue.ActorSelection(_client.GuardianPath).Ask<ActorIdentity>(new Identify(9L), AnswerTimeout);
        IActorRef guardian = identity.Subject!;
        // The sender of a remote message is whatever the sender claims: here, the guardian itself.
        guardian.Tell("bounce", guardian);
        guardian.Tell(new Refused("bounce"), guardian);

        // The refusal is logged once; a refusal loop would log #20, #1000, … within milliseconds.
        DateTime until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!_vaultLog.Any(l => l.Contains("unexpected String", StringComparison.Ordinal)) && DateTime.UtcNow < until)
        {
            await _client.VerifySecretAsync("main", "legitimate secret"u8.ToArray());
        }

        for (int i = 0; i < 100; i++)
        {
            Assert.True(await _client.VerifySecretAsync("main", "legitimate secret"u8.ToArray()));
        }

        string[] refusals = [.. _vaultLog.Where(l => l.Contains("Audit: refused a message", StringComparison.Ordinal))];
        Assert.True(refusals.Length is >= 1 and < 5, $"{refusals.Length} refusal lines:\n{string.Join('\n', refusals.Take(5))}");
    }

    [Fact]
    public async Task Flood_OfBareMessages_LeavesThreadsBounded_AndTheApplicationLeasing()
    {
        int threadsBefore = Threads(_client.VaultPid);
        Task<int> legitimate = LegitimateLoop();
        ActorSelection vault = _rogue.ActorSelection(_client.GuardianPath);
        for (int i = 0; i < 5_000; i++)
        {
            vault.Tell($"flood {i}");
        }

        Task<object>[] asks = [.. Enumerable.Range(0, 200).Select(i => vault.Ask<object>(new VaultEnvelope(_rogueKeys.Id, new GetVaultStatus(Guid.NewGuid())), AnswerTimeout))];
        object[] answers = await Task.WhenAll(asks);
        Assert.All(answers, a => Assert.IsType<Refused>(a));
        Assert.True(await legitimate > 0);
        await AssertStillServing("a flood of 5,200 messages");
        int threadsAfter = Threads(_client.VaultPid);
        Assert.True(threadsAfter <= threadsBefore + 8, $"vault threads {threadsBefore} -> {threadsAfter}");
    }

    private static int Threads(int pid) => Testing.ProcStatus.Threads(pid);

    /// <summary>The application's own traffic during the attack: 16 leases in flight, every one must succeed.</summary>
    private async Task<int> LegitimateLoop()
    {
        int ok = 0;
        var until = DateTime.UtcNow + SilenceWindow + SilenceWindow;
        await Task.WhenAll(Enumerable.Range(0, 16).Select(async _ =>
        {
            while (DateTime.UtcNow < until)
            {
                Assert.Equal(17, await _client.WithSecretAsync("main", static s => s.Length)); // "legitimate secret"
                Interlocked.Increment(ref ok);
            }
        }));

        return ok;
    }
}
