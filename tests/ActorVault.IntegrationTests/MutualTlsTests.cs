using System.Security.Cryptography;
using Akka.Actor;
using Akka.Configuration;
using ActorVault.Configuration;
using ActorVault.Crypto;
using ActorVault.Protocol;
using ActorVault.Serialization;

namespace ActorVault.IntegrationTests;

/// <summary>
/// The vault link with mutual TLS (VaultClientOptions.MutualTls): per-run certificates pinned by
/// SHA-256; leases work over it; a peer without the pinned certificate (plain TCP, TLS with no
/// certificate, TLS with another certificate) never reaches the guardian, and the application keeps leasing.
/// </summary>
public sealed class MutualTlsTests : IAsyncLifetime
{
    private static readonly TimeSpan Silence = TimeSpan.FromSeconds(3);
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _vaultLog = new();
    private VaultClient _client = null!;

    public async Task InitializeAsync()
    {
        _client = await VaultClient.StartAsync(new VaultClientOptions { MutualTls = true, VaultLog = _vaultLog.Enqueue });
        await _client.SetSecretAsync("main", "over mutual TLS"u8.ToArray().AsSpan());
    }

    public async Task DisposeAsync() => await _client.DisposeAsync();

    [Fact]
    public async Task Leases_WorkOverTheTlsLink()
    {
        Assert.StartsWith("akka.ssl.tcp://actorvault@127.0.0.1:", _client.GuardianPath, StringComparison.Ordinal);
        for (int i = 0; i < 200; i++)
        {
            byte[] digest = await _client.WithSecretAsync("main", static bytes => SHA256.HashData(bytes));
            Assert.Equal(SHA256.HashData("over mutual TLS"u8), digest);
        }

        VaultStatus status = await _client.GetStatusAsync();
        Assert.Equal(VaultState.Unlocked, status.State);
    }

    [Fact]
    public async Task APlainTcpPeer_NeverReachesTheVault()
    {
        string plainPath = _client.GuardianPath.Replace("akka.ssl.tcp://", "akka.tcp://", StringComparison.Ordinal);
        ActorSystem rogue = ActorSystem.Create("rogue-plain", ActorVaultConfig.Link);
        try
        {
            Assert.Null(await Identify(rogue, plainPath, 1L));
            await WaitForVaultLog("TLS handshake failed");
            await AssertStillLeasing();
        }
        finally
        {
            await rogue.Terminate();
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ATlsPeerWithoutThePinnedCertificate_IsRefusedAtTheHandshake(bool withCertificate)
    {
        using LinkTls rogueTls = LinkTls.Create("rogue");
        // The rogue accepts any server certificate (it would take the real vault's): it only lacks a
        // certificate that the vault pins.
        Akka.Remote.Transport.DotNetty.DotNettySslSetup setup = withCertificate
            ? new Akka.Remote.Transport.DotNetty.DotNettySslSetup(rogueTls.Certificate, suppressValidation: true, requireMutualAuthentication: true)
            : new Akka.Remote.Transport.DotNetty.DotNettySslSetup(null!, suppressValidation: true, requireMutualAuthentication: false);
        Config config = ConfigurationFactory.ParseString("akka.remote.dot-netty.tcp.enable-ssl = on").WithFallback(ActorVaultConfig.Link);
        ActorSystem rogue = ActorSystem.Create("rogue-tls", BootstrapSetup.Create().WithConfig(config).And(setup));
        try
        {
            using Memory.SecretBuffer bootstrap = SessionKeys.NewBootstrap();
            SessionKeyRing.For(rogue).Add(SessionKeys.Derive(bootstrap));
            Assert.Null(await Identify(rogue, _client.GuardianPath, 2L));
            // The vault's own audit says why: its TLS layer refused the rogue.
            await WaitForVaultLog(withCertificate ? "presented an unpinned certificate; refused" : "TLS handshake failed");
            await AssertStillLeasing();
        }
        finally
        {
            await rogue.Terminate();
        }
    }

    [Fact]
    public async Task AVaultRestart_MakesANewCertificate_AndTheLinkComesBack()
    {
        int first = _client.VaultPid;
        string firstPath = _client.GuardianPath;
        Assert.True(Memory.ProcessSignals.Send(first, 9));
        DateTime until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while ((_client.State != VaultState.Locked || _client.VaultPid == first) && DateTime.UtcNow < until)
        {
            await Task.Delay(50);
        }

        Assert.Equal(VaultState.Locked, _client.State);
        Assert.NotEqual(firstPath, _client.GuardianPath);
        await _client.SetSecretAsync("main", "after restart"u8.ToArray().AsSpan());
        Assert.Equal(13, await _client.WithSecretAsync("main", static bytes => bytes.Length));
    }

    /// <summary>
    /// The guardian the rogue reached, or null: no answer, or the rogue's own dead-letter office answering
    /// for a message its transport could not deliver (an ActorIdentity without a subject).
    /// </summary>
    private static async Task<IActorRef?> Identify(ActorSystem rogue, string path, long id)
    {
        try
        {
            ActorIdentity identity = await rogue.ActorSelection(path).Ask<ActorIdentity>(new Identify(id), Silence);
            return identity.Subject;
        }
        catch (AskTimeoutException)
        {
            return null;
        }
    }

    private async Task WaitForVaultLog(string text)
    {
        DateTime until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!_vaultLog.Any(l => l.Contains(text, StringComparison.Ordinal)))
        {
            Assert.True(DateTime.UtcNow < until, $"the vault never logged '{text}':\n{string.Join('\n', _vaultLog.TakeLast(20))}");
            await Task.Delay(50);
        }
    }

    private async Task AssertStillLeasing() =>
        Assert.Equal(15, await _client.WithSecretAsync("main", static bytes => bytes.Length));
}
