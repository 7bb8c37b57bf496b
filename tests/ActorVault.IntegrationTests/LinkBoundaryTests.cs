using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using ActorVault.Client;
using ActorVault.Testing;

namespace ActorVault.IntegrationTests;

/// <summary>
/// The vault link's boundary, held by the kernel: no process listens anywhere, the rendezvous socket
/// lives in a 0700 directory only until the child (checked by SO_PEERCRED) connects, other
/// connections are closed unread, the vault's environment is an allow-list, and the vault never
/// outlives its parent.
/// </summary>
public sealed class LinkBoundaryTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [RootFact]
    public void NeitherProcess_ListensAnywhere_NorHoldsATcpOrUdpSocket()
    {
        using AppProbe app = AppProbe.Attach(ChildProcess.Start(Path.Combine(AppContext.BaseDirectory, "ActorVault.AppProbe"), ["--unlock", "stdin"], new Dictionary<string, string?> { ["DOTNET_EnableDiagnostics"] = "0" }));
        app.Unlock("listening secret"u8);
        foreach ((string who, int pid) in (ValueTuple<string, int>[])[("application", app.AppPid), ("vault", app.VaultPid)])
        {
            HashSet<string> sockets = SocketInodes(pid);
            Assert.True(sockets.Count > 0, $"{who} {pid} holds no socket at all (the link should be one)");
            foreach (string table in (string[])["tcp", "tcp6", "udp", "udp6"])
            {
                string[] hits = [.. InodesOf($"/proc/{pid}/net/{table}", inodeColumn: 9).Where(sockets.Contains)];
                Assert.True(hits.Length == 0, $"{who} {pid} holds {table} socket(s) {string.Join(',', hits)}");
            }

            string[] listening = [.. File.ReadLines($"/proc/{pid}/net/unix").Skip(1)
                .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(f => f.Length > 6 && sockets.Contains(f[6]) && (int.Parse(f[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture) & 0x10000) != 0)
                .Select(f => f.Length > 7 ? f[7] : "(unnamed)")];
            Assert.True(listening.Length == 0, $"{who} {pid} listens on Unix socket(s) {string.Join(',', listening)}");
        }
    }

    [Fact]
    public async Task ARogueOfTheSameUser_ConnectingFirst_IsClosedUnread_AndTheVaultStartsAnyway()
    {
        Socket? rogue = null;
        string? directory = null;
        var launcher = new VaultProcessLauncher(new Dictionary<string, string>())
        {
            // The window an attacker races for: the socket is bound, the child not even started.
            BeforeStart = path =>
            {
                directory = Path.GetDirectoryName(path);
                rogue = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                rogue.Connect(new UnixDomainSocketEndPoint(path));
            },
        };
        var log = new ConcurrentQueue<string>();
        await using VaultClient client = await VaultClient.StartAsync(new VaultClientOptions { VaultLog = log.Enqueue }, launcher, null, null, CancellationToken.None);
        using Socket attacker = rogue!;

        attacker.ReceiveTimeout = (int)Wait.TotalMilliseconds;
        Assert.Equal(0, attacker.Receive(new byte[64])); // closed, and not one byte (the bootstrap) sent
        Assert.Contains(log, l => l.Contains($"refused a connection to the vault link socket from pid {Environment.ProcessId}", StringComparison.Ordinal));
        Assert.False(Directory.Exists(directory), "the rendezvous directory is removed once the child connected");
        await client.SetSecretAsync("main", "after the rogue"u8.ToArray().AsSpan());
        Assert.True(await client.VerifySecretAsync("main", "after the rogue"u8.ToArray()));
    }

    [Fact]
    public async Task ARogueInTheRendezvousWindowOfARestart_IsClosedUnread_AndTheRestartedVaultServes()
    {
        var rogues = new ConcurrentQueue<Socket>();
        var launcher = new VaultProcessLauncher(new Dictionary<string, string>())
        {
            BeforeStart = path =>
            {
                var rogue = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                rogue.Connect(new UnixDomainSocketEndPoint(path));
                rogues.Enqueue(rogue);
            },
        };
        var log = new ConcurrentQueue<string>();
        var locked = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using VaultClient client = await VaultClient.StartAsync(new VaultClientOptions { VaultLog = log.Enqueue, MinBackoff = TimeSpan.FromMilliseconds(50) }, launcher, null, null, CancellationToken.None);
        int first = client.VaultPid;
        client.StateChanged += (_, e) =>
        {
            if (e.State == VaultState.Locked && e.VaultPid != first)
            {
                locked.TrySetResult(e.VaultPid);
            }
        };

        ProcessExit.Signal(first, ProcessExit.SigKill); // the restart an attacker waits for
        int restarted = await locked.Task.WaitAsync(Wait);

        Assert.Equal(2, rogues.Count);
        foreach (Socket rogue in rogues)
        {
            using (rogue)
            {
                rogue.ReceiveTimeout = (int)Wait.TotalMilliseconds;
                Assert.Equal(0, rogue.Receive(new byte[64]));
            }
        }

        Assert.Equal(2, log.Count(l => l.Contains($"refused a connection to the vault link socket from pid {Environment.ProcessId}", StringComparison.Ordinal)));
        Assert.Equal(restarted, client.VaultPid);
        await client.SetSecretAsync("main", "after the restart"u8.ToArray().AsSpan());
        Assert.True(await client.VerifySecretAsync("main", "after the restart"u8.ToArray()));
    }

    [RootFact]
    public async Task AnotherUser_CannotEvenReachTheRendezvousSocket()
    {
        string? seen = null;
        var launcher = new VaultProcessLauncher(new Dictionary<string, string>())
        {
            BeforeStart = path =>
            {
                using ChildProcess other = ChildProcess.Start(
                    "/usr/bin/setpriv",
                    ["--reuid=65534", "--regid=65534", "--clear-groups", "--", "/bin/sh", "-c", "if test -e \"$1\"; then echo REACHED; else echo DENIED; fi; ls \"$(dirname \"$1\")\" 2>&1 | head -1", "sh", path]);
                other.WaitForExit();
                seen = string.Join(" | ", other.Lines);
            },
        };
        await using VaultClient client = await VaultClient.StartAsync(new VaultClientOptions(), launcher, null, null, CancellationToken.None);
        Assert.NotNull(seen);
        Assert.StartsWith("DENIED", seen, StringComparison.Ordinal);
        Assert.Contains("Permission denied", seen, StringComparison.Ordinal);
    }

    [RootFact]
    public void TheVaultsEnvironment_IsAnAllowList()
    {
        var planted = new Dictionary<string, string?>
        {
            ["LD_AUDIT"] = "/nonexistent/actorvault-audit.so",
            ["OPENSSL_CONF"] = "/nonexistent/openssl.cnf",
            ["OPENSSL_MODULES"] = "/nonexistent/ossl-modules",
            ["GLIBC_TUNABLES"] = "glibc.malloc.arena_max=2",
            ["COMPlus_EnableEventPipe"] = "0",
            ["DOTNET_EnableEventPipe"] = "0",
            ["DOTNET_gcServer"] = "0",
            ["ACTORVAULT_PLANTED"] = "planted",
            ["LANG"] = "C.UTF-8",
            ["DOTNET_EnableDiagnostics"] = "0",
        };
        using AppProbe app = AppProbe.Attach(ChildProcess.Start(Path.Combine(AppContext.BaseDirectory, "ActorVault.AppProbe"), [], planted));
        Dictionary<string, string> environment = File.ReadAllText($"/proc/{app.VaultPid}/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries)
            .Select(e => e.Split('=', 2)).ToDictionary(e => e[0], e => e.Length > 1 ? e[1] : string.Empty);

        string[] allowed = [.. VaultProcessLauncher.InheritedVariables, "DOTNET_EnableDiagnostics", "DOTNET_ROOT"];
        Assert.All(environment.Keys, name => Assert.Contains(name, allowed));
        Assert.Equal("0", environment["DOTNET_EnableDiagnostics"]);
        Assert.Equal("C.UTF-8", environment["LANG"]);
        foreach (string name in (string[])["LD_AUDIT", "OPENSSL_CONF", "OPENSSL_MODULES", "GLIBC_TUNABLES", "COMPlus_EnableEventPipe", "DOTNET_EnableEventPipe", "DOTNET_gcServer", "ACTORVAULT_PLANTED", "PATH", "HOME"])
        {
            Assert.False(environment.ContainsKey(name), $"{name} reached the vault");
        }
    }

    [Fact]
    public void TheVault_IsGoneWithinOneSecondOfItsParentsDeath_AfterARestart()
    {
        using AppProbe app = AppProbe.Start("--unlock", "stdin");
        app.Unlock("restart secret"u8);
        int first = app.VaultPid;
        ProcessExit.Signal(first, ProcessExit.SigKill);
        Assert.NotNull(ProcessExit.Wait(first, Wait));
        string locked = app.Process.WaitForLine("STATE Locked ", Wait);
        int restarted = AppProbe.Field(locked, "pid");
        Assert.NotEqual(first, restarted);

        ProcessExit.Signal(app.AppPid, ProcessExit.SigKill);
        TimeSpan? gone = ProcessExit.Wait(restarted, Wait);
        Assert.NotNull(gone);
        Assert.True(gone < TimeSpan.FromSeconds(1), $"the restarted vault outlived its parent by {gone!.Value.TotalMilliseconds:0} ms");
    }

    [Fact]
    public void TheVault_IsGoneWithinOneSecondOfItsParentsDeath_WhileItIsStillStarting()
    {
        using ChildProcess app = ChildProcess.Start(Path.Combine(AppContext.BaseDirectory, "ActorVault.AppProbe"), []);
        int vault = WaitForChild(app.Pid);
        ProcessExit.Signal(app.Pid, ProcessExit.SigKill);
        TimeSpan? gone = ProcessExit.Wait(vault, Wait);
        Assert.NotNull(gone);
        Assert.True(gone < TimeSpan.FromSeconds(1), $"the starting vault outlived its parent by {gone!.Value.TotalMilliseconds:0} ms");
        Assert.DoesNotContain(app.Lines, l => l.StartsWith("APP-READY", StringComparison.Ordinal));
    }

    /// <summary>The first child process of <paramref name="pid"/> (the vault, as soon as it is forked).</summary>
    private static int WaitForChild(int pid)
    {
        DateTime until = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < until)
        {
            foreach (string task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                string children = File.ReadAllText(Path.Combine(task, "children")).Trim();
                if (children.Length > 0)
                {
                    return int.Parse(children.Split(' ')[0], CultureInfo.InvariantCulture);
                }
            }

            Thread.Yield();
        }

        throw new TimeoutException($"process {pid} started no child within {Wait.TotalSeconds} s");
    }

    internal static HashSet<string> SocketInodes(int pid)
    {
        var inodes = new HashSet<string>(StringComparer.Ordinal);
        foreach (string fd in Directory.EnumerateFiles($"/proc/{pid}/fd"))
        {
            string? target = new FileInfo(fd).LinkTarget;
            if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal))
            {
                inodes.Add(target["socket:[".Length..^1]);
            }
        }

        return inodes;
    }

    internal static IEnumerable<string> InodesOf(string table, int inodeColumn) =>
        File.Exists(table)
            ? File.ReadLines(table).Skip(1).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(f => f.Length > inodeColumn).Select(f => f[inodeColumn])
            : [];
}
