using System.Buffers.Binary;
using System.Net.Sockets;
using Akka.Actor;
using ActorVault.Configuration;
using ActorVault.Serialization;
using ActorVault.Transport;

namespace ActorVault.Tests;

/// <summary>
/// ActorVault's Akka.Remote transport, with two real actor systems in this process joined by one
/// connected Unix socket (as the application and its vault are), and raw sockets as hostile peers.
/// </summary>
public sealed class LinkSocketTransportSpecs : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private readonly string _dir = Directory.CreateTempSubdirectory("avlink-spec-").FullName;
    private readonly List<ActorSystem> _systems = [];
    private readonly List<Socket> _sockets = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (ActorSystem system in _systems)
        {
            await system.Terminate();
        }

        foreach (Socket socket in _sockets)
        {
            socket.Dispose();
        }

        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task TwoSystems_OverOneSocket_AskRoundTrips_InBothDirections()
    {
        (Socket app, Socket vault) = Pair();
        ActorSystem vaultSystem = Vault(vault, "v-spec", out IActorRef echo);
        ActorSystem link = Link(app, "v-spec");

        ActorIdentity identity = await link.ActorSelection(LinkHandshake.GuardianPath("v-spec")).Ask<ActorIdentity>(new Identify(1L), Wait);
        Assert.NotNull(identity.Subject);
        Assert.Equal("akka.avlink", identity.Subject!.Path.Address.Protocol);
        for (int i = 0; i < 100; i++)
        {
            Assert.Equal($"hello {i}", await identity.Subject.Ask<string>($"hello {i}", Wait));
        }

        Assert.NotNull(echo);
        Assert.NotNull(vaultSystem);
    }

    [Fact]
    public async Task NoSocketForAnAddress_MeansNoAssociation_ThereIsNothingToDial()
    {
        (Socket app, Socket vault) = Pair();
        _ = Vault(vault, "v-real", out _);
        ActorSystem link = Link(app, "v-real");
        ActorIdentity nobody = await link.ActorSelection(LinkHandshake.GuardianPath("v-elsewhere")).Ask<ActorIdentity>(new Identify(2L), Wait);
        Assert.Null(nobody.Subject);
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(131073)]
    [InlineData(0)]
    [InlineData(-1)]
    public async Task AnInvalidFrameLength_EndsTheAssociation_BeforeAnyBufferIsMade(int length)
    {
        (Socket rogue, Socket vault) = Pair();
        _ = Vault(vault, "v-frames", out _);
        byte[] header = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(header, length);
        await rogue.SendAsync(header);
        Assert.Equal(0, await ReceiveOrEndAsync(rogue));
    }

    [Fact]
    public async Task GarbageThatIsAWholeFrame_EndsTheAssociation_AtAkkasHandshake()
    {
        (Socket rogue, Socket vault) = Pair();
        _ = Vault(vault, "v-garbage", out _);
        byte[] frame = new byte[4 + 64];
        BinaryPrimitives.WriteInt32BigEndian(frame, 64);
        System.Security.Cryptography.RandomNumberGenerator.Fill(frame.AsSpan(4));
        await rogue.SendAsync(frame);
        Assert.Equal(0, await ReceiveOrEndAsync(rogue));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)] // control: without the filter, Akka.NET's untrusted-mode lets Kill fail the /user guardian
    public async Task Kill_FromThePeer_IsRefusedAtTheSerializer_EveryGuardianLives(bool filtered)
    {
        (Socket app, Socket vault) = Pair();
        ActorSystem vaultSystem = Vault(vault, "v-kill", out _, filtered ? null : StockMisc);
        ActorSystem link = Link(app, "v-kill", StockMisc);
        IActorRef remote = (await link.ActorSelection(LinkHandshake.GuardianPath("v-kill")).Ask<ActorIdentity>(new Identify(3L), Wait)).Subject!;
        string before = await remote.Ask<string>("instance?", Wait);
        string root = LinkHandshake.GuardianPath("v-kill")[..^"/user/vault".Length];

        foreach (string path in (string[])["/user/vault", "/user", "/system", "/"])
        {
            IActorRef target = ((ExtendedActorSystem)link).Provider.ResolveActorRef(root + path);
            target.Tell(Kill.Instance);
            target.Tell(PoisonPill.Instance);
            Task<ActorIdentity> alive = target.Ask<ActorIdentity>(new Identify(path), Wait); // queued behind the Kill
            if (!filtered)
            {
                // The control ends at the first guardian Kill takes down: the vault's system terminates.
                if (await Task.WhenAny(alive, vaultSystem.WhenTerminated) == vaultSystem.WhenTerminated)
                {
                    return;
                }

                continue;
            }

            Assert.Equal(path, (await alive).MessageId);
        }

        if (!filtered)
        {
            // A guardian may still answer an Identify queued behind its Kill while the system goes down:
            // the control waits for the termination itself (a TimeoutException if it never comes).
            await vaultSystem.WhenTerminated.WaitAsync(Wait);
            return;
        }

        Assert.Equal("still here", await remote.Ask<string>("still here", Wait));
        Assert.Equal(before, await remote.Ask<string>("instance?", Wait));
        Assert.False(vaultSystem.WhenTerminated.IsCompleted);
        Assert.IsType<FilteringMiscMessageSerializer>(vaultSystem.Serialization.FindSerializerForType(typeof(Kill)));
    }

    private static readonly Akka.Configuration.Config StockMisc = Akka.Configuration.ConfigurationFactory.ParseString(
        """
        akka.actor.serializers.akka-misc = "Akka.Remote.Serialization.MiscMessageSerializer, Akka.Remote"
        akka.actor.serialization-identifiers { "Akka.Remote.Serialization.MiscMessageSerializer, Akka.Remote" = 16 }
        """);

    private (Socket Near, Socket Far) Pair()
    {
        string path = Path.Combine(_dir, $"s{_sockets.Count}");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        var near = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        near.Connect(new UnixDomainSocketEndPoint(path));
        Socket far = listener.Accept();
        _sockets.Add(near);
        _sockets.Add(far);
        return (near, far);
    }

    private ActorSystem Vault(Socket socket, string name, out IActorRef echo, Akka.Configuration.Config? extra = null)
    {
        Akka.Configuration.Config config = ActorVaultConfig.ForVault((extra ?? Akka.Configuration.Config.Empty).WithFallback(SpecConfig.Quiet));
        ActorSystem system = ActorSystem.Create(LinkHandshake.VaultSystem, BootstrapSetup.Create().WithConfig(config).And(new LinkSockets(name, socket)));
        _systems.Add(system);
        echo = system.ActorOf(Props.Create(() => new Echo()), "vault");
        return system;
    }

    private ActorSystem Link(Socket socket, string vaultName, Akka.Configuration.Config? extra = null)
    {
        var sockets = new LinkSockets("app-spec");
        sockets.Register(vaultName, socket);
        Akka.Configuration.Config config = (extra ?? Akka.Configuration.Config.Empty).WithFallback(SpecConfig.Quiet);
        ActorSystem system = ActorSystem.Create(LinkHandshake.LinkSystem, BootstrapSetup.Create().WithConfig(ActorVaultConfig.ForLink(config)).And(sockets));
        _systems.Add(system);
        return system;
    }

    /// <summary>Bytes read before the peer ended the connection (0 means it closed without a word).</summary>
    private static async Task<int> ReceiveOrEndAsync(Socket socket)
    {
        byte[] buffer = new byte[4096];
        int total = 0;
        using var timeout = new CancellationTokenSource(Wait);
        while (true)
        {
            int n;
            try
            {
                n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            }
            catch (SocketException)
            {
                return total;
            }

            if (n == 0)
            {
                return total;
            }

            total += n;
        }
    }

    /// <summary>Echoes strings; answers "instance?" with an id that a restart (Kill) would change.</summary>
    private sealed class Echo : ReceiveActor
    {
        private readonly Guid _instance = Guid.NewGuid();

        public Echo()
        {
            Receive<string>(s => s == "instance?", _ => Sender.Tell(_instance.ToString()));
            Receive<string>(s => Sender.Tell(s));
        }
    }
}
