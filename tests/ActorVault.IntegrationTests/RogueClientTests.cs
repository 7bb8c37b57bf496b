using Akka.Actor;
using ActorVault.Configuration;
using ActorVault.Crypto;
using ActorVault.Protocol;
using ActorVault.Serialization;

namespace ActorVault.IntegrationTests;

/// <summary>
/// A local process that connects to the vault's port without the session key: its own actor system,
/// ActorVault's wire configuration, and a session key of its own making.
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
        _client = await VaultClient.StartAsync(new VaultClientOptions { VaultLog = _vaultLog.Enqueue });
        await _client.SetSecretAsync("main", "legitimate secret"u8.ToArray().AsSpan());
        // The rogue lifts its own frame-size limit, to test the vault's.
        _rogue = ActorSystem.Create("rogue", Akka.Configuration.ConfigurationFactory.ParseString("akka.remote.dot-netty.tcp.maximum-frame-size = 4194304b")
            .WithFallback(ForgedFrameSerializer.Config).WithFallback(ActorVaultConfig.Link));
        using Memory.SecretBuffer bootstrap = SessionKeys.NewBootstrap();
        _rogueKeys = SessionKeys.Derive(bootstrap);
        SessionKeyRing.For(_rogue).Add(_rogueKeys);
    }

    public async Task DisposeAsync()
    {
        await _rogue.Terminate();
        await _client.DisposeAsync();
    }

    [Fact]
    public async Task EnvelopeUnderAnotherKey_IsRefused_WithNothingButARefusal()
    {
        object answer = await _rogue.ActorSelection(_client.GuardianPath).Ask<object>(new VaultEnvelope(_rogueKeys.Id, new OpenForSession(Guid.NewGuid(), "main")), AnswerTimeout);
        Refused refused = Assert.IsType<Refused>(answer);
        Assert.Equal("not authenticated for this vault", refused.Reason);
    }

    [Fact]
    public async Task EnvelopeClaimingTheRealSessionButSealedWithAnotherKey_IsRefused()
    {
        // Forge: the real session id (public) in the header, a body sealed under the rogue's key.
        SessionId real = (await _client.Supervisor.Ask<Client.SupervisorProtocol.Snapshot>(Client.SupervisorProtocol.GetSnapshot.Instance, AnswerTimeout)).Session!.Value;
        byte[] body = new ProtocolSerializer((ExtendedActorSystem)_rogue).ToBinary(new OpenForSession(Guid.NewGuid(), "main"));
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
    public async Task OversizedFrame_IsDroppedByTheVault_WhichKeepsServing()
    {
        byte[] huge = new byte[300_000]; // the vault's maximum frame is 128 KiB
        huge[0] = EnvelopeSerializer.Version;
        await Assert.ThrowsAsync<AskTimeoutException>(() => _rogue.ActorSelection(_client.GuardianPath).Ask<object>(new ForgedFrame(huge), SilenceWindow));
        await AssertStillServing("a 300 KB frame");
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

    [Fact]
    public async Task Flood_OfConnections_LeavesThreadsAndMemoryBounded_AndTheApplicationLeasing()
    {
        int port = int.Parse(_client.GuardianPath.Split(':')[2].Split('/')[0], System.Globalization.CultureInfo.InvariantCulture);
        await AssertStillServing("warm-up");
        int threadsBefore = Threads(_client.VaultPid);
        long rssBefore = RssKiB(_client.VaultPid);
        Task<int> legitimate = LegitimateLoop();

        // 400 sockets, in waves: garbage, absurd length prefixes, half-written frames, or nothing at all.
        var sockets = new List<System.Net.Sockets.Socket>();
        var random = new Random(7);
        try
        {
            for (int i = 0; i < 400; i++)
            {
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                await socket.ConnectAsync(System.Net.IPAddress.Loopback, port);
                sockets.Add(socket);
                byte[] payload = (i % 4) switch
                {
                    0 => RandomBytes(random, random.Next(1, 4096)),
                    1 => [0x7f, 0xff, 0xff, 0xff, 1, 2, 3],          // claims a 2 GiB frame
                    2 => [0x00, 0x00, 0x10, 0x00, .. RandomBytes(random, 100)], // claims 4 KiB, sends 100 bytes
                    _ => [],                                           // connects and stays silent
                };
                if (payload.Length > 0)
                {
                    try
                    {
                        await socket.SendAsync(payload);
                    }
                    catch (System.Net.Sockets.SocketException)
                    {
                        // the vault may already have closed a connection it judged malformed
                    }
                }
            }

            Assert.True(await legitimate > 0);
            await AssertStillServing("400 hostile connections held open");
            int threadsOpen = Threads(_client.VaultPid);
            Assert.True(threadsOpen <= threadsBefore + 16, $"vault threads with 400 connections open: {threadsBefore} -> {threadsOpen}");
        }
        finally
        {
            foreach (System.Net.Sockets.Socket socket in sockets)
            {
                socket.Dispose();
            }
        }

        await AssertStillServing("400 hostile connections, closed");
        int threadsAfter = Threads(_client.VaultPid);
        long rssAfter = RssKiB(_client.VaultPid);
        // Bounded: a thread per connection would add ~400; the thread pool may add a few.
        Assert.True(threadsAfter <= threadsBefore + 16, $"vault threads {threadsBefore} -> {threadsAfter}");
        Assert.True(rssAfter - rssBefore < 64 * 1024, $"vault RSS {rssBefore} KiB -> {rssAfter} KiB");
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        byte[] bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static long RssKiB(int pid) => Testing.ProcStatus.RssKiB(pid);

    private static int Threads(int pid) => Testing.ProcStatus.Threads(pid);

    /// <summary>The application's own traffic during the attack: every call must succeed.</summary>
    private async Task<int> LegitimateLoop()
    {
        int ok = 0;
        var until = DateTime.UtcNow + SilenceWindow + SilenceWindow;
        while (DateTime.UtcNow < until)
        {
            Assert.True(await _client.VerifySecretAsync("main", "legitimate secret"u8.ToArray()));
            ok++;
        }

        return ok;
    }
}
