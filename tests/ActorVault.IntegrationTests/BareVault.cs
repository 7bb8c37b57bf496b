using System.Net.Sockets;
using ActorVault.Client;
using ActorVault.Crypto;
using ActorVault.Memory;
using ActorVault.Testing;
using ActorVault.Transport;

namespace ActorVault.IntegrationTests;

/// <summary>
/// The real vault executable with this test playing its application: the rendezvous socket, the
/// peer check, the bootstrap and the READY check, exactly as <see cref="VaultProcessLauncher"/> does,
/// but with each step in the test's hands.
/// </summary>
internal sealed class BareVault : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    private BareVault(ChildProcess process, VaultLinkListener listener, string linkName)
    {
        Process = process;
        Listener = listener;
        LinkName = linkName;
    }

    public ChildProcess Process { get; }

    public VaultLinkListener Listener { get; }

    public string LinkName { get; }

    /// <summary>The accepted link socket (after <see cref="AcceptAsync"/>).</summary>
    public Socket? Link { get; private set; }

    public int Pid => Process.Pid;

    public static string Host => Path.Combine(AppContext.BaseDirectory, "ActorVault.Host");

    /// <summary>Starts <c>actorvault vault</c> with a fresh rendezvous socket; nothing is accepted yet.</summary>
    public static BareVault Launch(IDictionary<string, string?>? environment = null)
    {
        VaultLinkListener listener = VaultLinkListener.Create();
        string name = LinkHandshake.NewLinkName();
        ChildProcess process = ChildProcess.Start(Host, ["vault", "--link", listener.SocketPath, "--link-name", name, "--parent", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)], environment);
        return new BareVault(process, listener, name);
    }

    /// <summary>Launches, accepts the child's (proven) connection, hands it a bootstrap and checks its READY.</summary>
    public static async Task<BareVault> StartAsync(IDictionary<string, string?>? environment = null)
    {
        BareVault vault = Launch(environment);
        try
        {
            await vault.AcceptAsync();
            using SecretBuffer bootstrap = SessionKeys.NewBootstrap();
            vault.Send(bootstrap);
            vault.Link!.ReceiveTimeout = (int)Wait.TotalMilliseconds;
            string? problem = LinkHandshake.ReceiveReady(vault.Link, bootstrap, vault.Pid, vault.LinkName);
            Assert.True(problem is null, problem);
            return vault;
        }
        catch
        {
            vault.Dispose();
            throw;
        }
    }

    public async Task AcceptAsync()
    {
        using var timeout = new CancellationTokenSource(Wait);
        Link = await Listener.AcceptChildAsync(Pid, _ => { }, timeout.Token);
    }

    public void Send(SecretBuffer bytes) => _ = bytes.Use(Link!, static (b, s) => s.Send(b));

    public void Send(ReadOnlySpan<byte> bytes) => Link!.Send(bytes);

    public void CloseLink() => Link?.Dispose();

    public void Dispose()
    {
        Link?.Dispose();
        Listener.Dispose();
        Process.Dispose();
    }
}
