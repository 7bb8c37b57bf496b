using Akka.Actor;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ActorVault.Testing;

namespace ActorVault.IntegrationTests;

/// <summary>
/// The standalone host driven through the real <c>actorvault</c> executable: serve → exec → status →
/// lock → unlock → stop, the info file's permissions, foreign keys refused, bytes handed over by digest,
/// and memory scans of the host and its vault after exec.
/// </summary>
public sealed class StandaloneHostTests
{
    internal static string Executable => Path.Combine(AppContext.BaseDirectory, "ActorVault.Host");

    [Fact]
    public void Serve_Exec_Status_Lock_Unlock_Stop_FullCycle()
    {
        using var host = ServedHost.Start("first secret ✓ with UTF-8");

        (int code, string stdout, string stderr) = host.Cli("exec", "--", "sha256sum");
        Assert.True(code == 0, stderr);
        Assert.StartsWith(Sha256("first secret ✓ with UTF-8"), stdout, StringComparison.Ordinal);

        (code, stdout, stderr) = host.Cli("status", "--json");
        Assert.True(code == 0, stderr);
        using (JsonDocument status = JsonDocument.Parse(stdout))
        {
            JsonElement root = status.RootElement;
            Assert.Equal(host.Pid, root.GetProperty("hostPid").GetInt32());
            Assert.Equal(host.VaultPid, root.GetProperty("vaultPid").GetInt32());
            Assert.Equal("Unlocked", root.GetProperty("state").GetString());
            Assert.Equal("password", root.GetProperty("secrets")[0].GetProperty("name").GetString());
            Assert.Equal("unlocked", root.GetProperty("secrets")[0].GetProperty("state").GetString());
            Assert.True(root.GetProperty("leasesGranted").GetInt64() >= 1);
            Assert.True(root.GetProperty("lockedBytes").GetInt64() > 0);
            Assert.True(root.GetProperty("secureHeapUsedBytes").GetInt64() > 0);
            Assert.True(root.GetProperty("hardened").GetBoolean());
        }

        (code, stdout, _) = host.Cli("status");
        Assert.Equal(0, code);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"pid {host.VaultPid}, Unlocked"), stdout, StringComparison.Ordinal);

        (code, _, stderr) = host.Cli("lock");
        Assert.Equal(0, code);
        Assert.Contains("locked", stderr, StringComparison.Ordinal);

        (code, stdout, stderr) = host.Cli("exec", "--", "sha256sum");
        Assert.Equal(125, code);
        Assert.Contains("locked", stderr, StringComparison.Ordinal);
        Assert.Equal(string.Empty, stdout);

        (code, _, stderr) = host.Cli(["unlock"], "second secret\n");
        Assert.True(code == 0, stderr);
        (code, stdout, _) = host.Cli("exec", "--", "sha256sum");
        Assert.Equal(0, code);
        Assert.StartsWith(Sha256("second secret"), stdout, StringComparison.Ordinal);

        (code, _, stderr) = host.Cli("stop");
        Assert.True(code == 0, stderr);
        Assert.Equal(0, host.Process.WaitForExit());
        Assert.False(ProcessExit.IsRunning(host.VaultPid), "the vault child outlived the host");
        Assert.False(File.Exists(host.InfoFile), "the info file outlived the host");
    }

    [Fact]
    public void Exec_OnDescriptor3_PassesExactBytes_AndReturnsTheCommandsExitCode()
    {
        using var host = ServedHost.Start("fd three secret");

        (int code, string stdout, string stderr) = host.Cli("exec", "--fd", "3", "--", "sh", "-c", "sha256sum <&3; exit 7");
        Assert.True(code == 7, stderr);
        Assert.StartsWith(Sha256("fd three secret"), stdout, StringComparison.Ordinal);

        (code, _, stderr) = host.Cli("exec", "--", "actorvault-no-such-command");
        Assert.Equal(127, code);
        Assert.Contains("not found", stderr, StringComparison.Ordinal);

        // The command's stdin is the secret followed by end of input, nothing else.
        (code, stdout, _) = host.Cli("exec", "--", "wc", "-c");
        Assert.Equal(0, code);
        Assert.Equal("15", stdout.Trim());
    }

    [Fact]
    public void InfoFile_IsPrivate_AndAClientRefusesOneOthersCanRead()
    {
        using var host = ServedHost.Start("permissions secret");

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(host.InfoFile));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(host.InfoFile)!));
        Assert.DoesNotContain("permissions secret", File.ReadAllText(host.InfoFile), StringComparison.Ordinal);

        File.SetUnixFileMode(host.InfoFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        (int code, _, string stderr) = host.Cli("status");
        Assert.Equal(1, code);
        Assert.Contains("accessible by others", stderr, StringComparison.Ordinal);

        File.SetUnixFileMode(host.InfoFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        (code, _, _) = host.Cli("status");
        Assert.Equal(0, code);

        // A symlink to the real file is not followed; a FIFO in its place does not hang the client.
        string link = Path.Combine(host.Directory, "link.info");
        File.CreateSymbolicLink(link, host.InfoFile);
        (code, _, stderr) = host.Cli("status", "--info-file", link);
        Assert.Equal(1, code);
        Assert.Contains("symbolic link", stderr, StringComparison.Ordinal);
        string fifo = Path.Combine(host.Directory, "fifo.info");
        using (ChildProcess mkfifo = ChildProcess.Start("mkfifo", ["-m", "600", fifo]))
        {
            Assert.Equal(0, mkfifo.WaitForExit());
        }

        (code, _, stderr) = host.Cli("status", "--info-file", fifo);
        Assert.Equal(1, code);
        Assert.Contains("not a regular file", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Serve_RefusesADirectoryWritableByOthers()
    {
        string dir = Directory.CreateTempSubdirectory("actorvault-open-").FullName;
        try
        {
            File.SetUnixFileMode(dir, (UnixFileMode)0x1FF); // 0777
            using ChildProcess serve = ChildProcess.Start(Executable, ["serve", "--password-stdin", "--info-file", Path.Combine(dir, "host.info")]);
            serve.StandardInput.Write("x\n");
            serve.StandardInput.Close();
            Assert.Equal(1, serve.WaitForExit());
            Assert.Contains("writable by others", serve.StandardError, StringComparison.Ordinal);
            Assert.False(File.Exists(Path.Combine(dir, "host.info")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void AClientWithAnotherKey_IsRefused_AndTheRightfulClientKeepsLeasing()
    {
        using var host = ServedHost.Start("rightful secret");
        string forged = host.InfoFileWith("forged.info", "key", Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)));

        foreach (string[] command in new[] { new[] { "status" }, ["exec", "--", "cat"], ["lock"], ["stop"] })
        {
            (int code, string stdout, string stderr) = host.Cli([command[0], "--info-file", forged, .. command[1..]]);
            Assert.NotEqual(0, code);
            Assert.Contains("refused this client", stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("rightful", stdout, StringComparison.Ordinal);
        }

        host.Serve.WaitForError("Audit: refused a message");
        Assert.True(ProcessExit.IsRunning(host.Pid), "a refused client stopped the host");
        (int ok, string digest, _) = host.Cli("exec", "--", "sha256sum");
        Assert.Equal(0, ok);
        Assert.StartsWith(Sha256("rightful secret"), digest, StringComparison.Ordinal);
    }

    [Fact]
    public void NoHost_StaleInfoFile_AndASecondServe_AreClearErrors()
    {
        string dir = Directory.CreateTempSubdirectory("actorvault-none-").FullName;
        try
        {
            (int code, _, string stderr) = ServedHost.Run(["status", "--info-file", Path.Combine(dir, "host.info")]);
            Assert.Equal(1, code);
            Assert.Contains("No actorvault host", stderr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }

        using var host = ServedHost.Start("only one host");
        using ChildProcess second = ChildProcess.Start(Executable, ["serve", "--password-stdin", "--info-file", host.InfoFile]);
        second.StandardInput.Write("x\n");
        second.StandardInput.Close();
        Assert.Equal(1, second.WaitForExit());
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"Another actorvault host (pid {host.Pid})"), second.StandardError, StringComparison.Ordinal);

        // The host dies without cleaning up: clients say so; a new serve replaces the stale file.
        host.Kill();
        (int stale, _, string message) = host.Cli("status");
        Assert.Equal(1, stale);
        Assert.Contains("is not running", message, StringComparison.Ordinal);
        using var next = ServedHost.Start("the next host", host.InfoFile);
        (int ok, string digest, _) = next.Cli("exec", "--", "sha256sum");
        Assert.Equal(0, ok);
        Assert.StartsWith(Sha256("the next host"), digest, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(15)]
    [InlineData(2)]
    public void Serve_Signal_ShredsTheInfoFile_StopsTheVault_Exits128PlusN(int signal)
    {
        using var host = ServedHost.Start("signal secret");
        ProcessExit.Signal(host.Pid, signal);
        Assert.Equal(128 + signal, host.Process.WaitForExit());
        Assert.False(File.Exists(host.InfoFile));
        Assert.True(ProcessExit.Wait(host.VaultPid, TimeSpan.FromSeconds(10)) is not null, "the vault outlived its host");
    }

    [Fact]
    public void BadArguments_AreOneLineAndExit2()
    {
        foreach (string[] args in new[] { new[] { "exec" }, ["exec", "--fd", "-1", "--", "cat"], ["serve", "--password-fd", "1"], ["unlock", "--password-stdin", "--password-file", "x"], ["lock", "--secret", "bad name!"], ["frobnicate"] })
        {
            (int code, string stdout, string stderr) = ServedHost.Run(args);
            Assert.Equal(2, code);
            Assert.Single(stderr.Trim().Split('\n'));
            Assert.StartsWith("actorvault: ", stderr, StringComparison.Ordinal);
            Assert.Equal(string.Empty, stdout);
        }

        foreach (string command in new[] { "serve", "exec", "status", "unlock", "lock", "stop", "demo" })
        {
            (int code, string stdout, _) = ServedHost.Run([command, "--help"]);
            Assert.Equal(0, code);
            Assert.Contains("Usage:", stdout, StringComparison.Ordinal);
        }
    }

    [RootFact]
    public void Exec_LeavesNoCopyInTheHostOrItsVault()
    {
        SecretPattern secret = SecretPattern.Create();
        using var host = ServedHost.Start(secret.Text);
        for (int i = 0; i < 5; i++)
        {
            (int code, string stdout, string stderr) = host.Cli("exec", "--", "sha256sum");
            Assert.True(code == 0, stderr);
            Assert.StartsWith(Sha256(secret.Text), stdout, StringComparison.Ordinal);
        }

        (int unlocked, _, _) = host.Cli(["unlock", "--secret", "second"], secret.Text + "\n");
        Assert.Equal(0, unlocked);

        ScanResult hostScan = MemoryScanner.Scan(host.Pid, secret);
        ScanResult vaultScan = MemoryScanner.Scan(host.VaultPid, secret);
        Assert.True(hostScan.BytesScanned > 0 && vaultScan.BytesScanned > 0);
        Assert.True(hostScan.Total == 0, $"host: {hostScan}");
        Assert.True(vaultScan.Total == 0, $"vault: {vaultScan}");
    }

    [Fact]
    public async Task AFloodOfConnectionsToTheHost_LeavesItServing_WithThreadsBounded()
    {
        using var host = ServedHost.Start("flooded secret");
        string address = File.ReadAllLines(host.InfoFile).Single(l => l.StartsWith("address=", StringComparison.Ordinal));
        int port = int.Parse(address[(address.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);
        // Warm the host up (thread pool, first association) before counting its threads.
        Assert.Equal(0, host.Cli("exec", "--", "true").Code);
        int threadsBefore = Threads(host.Pid);
        var random = new Random(11);
        var sockets = new List<System.Net.Sockets.Socket>();
        try
        {
            for (int i = 0; i < 300; i++)
            {
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                await socket.ConnectAsync(System.Net.IPAddress.Loopback, port);
                sockets.Add(socket);
                byte[] garbage = new byte[i % 3 == 0 ? 0 : random.Next(1, 2048)];
                random.NextBytes(garbage);
                try
                {
                    await socket.SendAsync(garbage);
                }
                catch (System.Net.Sockets.SocketException)
                {
                    // closed by the host as malformed
                }
            }

            (int code, string stdout, string stderr) = host.Cli("exec", "--", "sha256sum");
            Assert.True(code == 0, stderr);
            Assert.StartsWith(Sha256("flooded secret"), stdout, StringComparison.Ordinal);
            int threadsOpen = Threads(host.Pid);
            Assert.True(threadsOpen <= threadsBefore + 24, $"host threads with 300 connections open: {threadsBefore} -> {threadsOpen}");
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }

        (int after, _, _) = host.Cli("status");
        Assert.Equal(0, after);
        int threadsAfter = Threads(host.Pid);
        // Bounded: a thread per connection would add ~300; the thread pool may add a few.
        Assert.True(threadsAfter <= threadsBefore + 24, $"host threads {threadsBefore} -> {threadsAfter}");
    }

    [Fact]
    public void MutualTls_ExecWorks_AndAClientWithAnotherCertificateIsRefusedAtTheHandshake()
    {
        using var host = ServedHost.Start("tls host secret", mutualTls: true);
        Assert.Contains("address=akka.ssl.tcp://", File.ReadAllText(host.InfoFile), StringComparison.Ordinal);
        (int code, string stdout, string stderr) = host.Cli("exec", "--", "sha256sum");
        Assert.True(code == 0, stderr);
        Assert.StartsWith(Sha256("tls host secret"), stdout, StringComparison.Ordinal);

        // Same client key, another client certificate: refused by the host's TLS layer.
        using var rogue = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=rogue", rogue, System.Security.Cryptography.HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        string forged = host.InfoFileWith("forged.info", "tls-cert", Convert.ToHexStringLower(certificate.RawData), "tls-key", Convert.ToHexStringLower(rogue.ExportPkcs8PrivateKey()));
        (int refused, string nothing, string error) = host.Cli("exec", "--info-file", forged, "--", "sha256sum");
        Assert.Equal(125, refused);
        Assert.Equal(string.Empty, nothing);
        Assert.Contains("TLS handshake failed", error, StringComparison.Ordinal);
        host.Serve.WaitForError("presented an unpinned certificate; refused");

        // A tls-key that is hex but not a key: one clear line, exit 1, no stack trace.
        string corrupt = host.InfoFileWith("corrupt.info", "tls-key", new string('a', 276));
        (int bad, _, string message) = host.Cli("status", "--info-file", corrupt);
        Assert.Equal(1, bad);
        Assert.Single(message.Trim().Split('\n'));
        Assert.Contains("not a certificate and its private key", message, StringComparison.Ordinal);

        (int ok, string digest, _) = host.Cli("exec", "--", "sha256sum");
        Assert.Equal(0, ok);
        Assert.StartsWith(Sha256("tls host secret"), digest, StringComparison.Ordinal);
    }

    [Fact]
    public void Serve_OnATerminal_ShowsProgress_AndTheVaultReadsTheSecretWithEchoOff()
    {
        string dir = Directory.CreateTempSubdirectory("actorvault-tty-").FullName;
        string info = Path.Combine(dir, "host.info");
        try
        {
            using var pty = new PseudoTerminal();
            using ChildProcess serve = pty.Start(Executable, ["serve", "--info-file", info]);
            pty.WaitForOutput("actorvault: starting the vault");
            pty.WaitForOutput("Secret 'password' for the actorvault host: ");
            Assert.True(pty.WaitForEcho(false), "echo is off while the vault reads the secret");
            pty.Type("typed at the terminal\r");
            pty.WaitForOutput("ACTORVAULT-HOST-READY");

            (int code, string stdout, string stderr) = ServedHost.Run(["exec", "--info-file", info, "--", "sha256sum"]);
            Assert.True(code == 0, stderr);
            Assert.StartsWith(Sha256("typed at the terminal"), stdout, StringComparison.Ordinal);
            Assert.DoesNotContain("typed at the terminal", pty.Output, StringComparison.Ordinal);
            Assert.Equal(0, ServedHost.Run(["stop", "--info-file", info]).Code);
            Assert.Equal(0, serve.WaitForExit());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void SecretSources_File_Descriptor_AndSystemdCredential()
    {
        string dir = Directory.CreateTempSubdirectory("actorvault-sources-").FullName;
        string info = Path.Combine(dir, "host.info");
        string file = Path.Combine(dir, "secret.txt");
        File.WriteAllText(file, "from a file\n");
        File.WriteAllText(Path.Combine(dir, "db"), "from a credential");
        File.WriteAllText(Path.Combine(dir, "fd-secret"), "from descriptor 3");
        try
        {
            using ChildProcess serve = ChildProcess.Start(Executable, ["serve", "--password-file", file, "--info-file", info]);
            serve.StandardInput.Close();
            serve.WaitForLine("ACTORVAULT-HOST-READY");
            Assert.StartsWith(Sha256("from a file"), ServedHost.Run(["exec", "--info-file", info, "--", "sha256sum"]).Stdout, StringComparison.Ordinal);

            using (ChildProcess unlock = ChildProcess.Start(Executable, ["unlock", "--secret", "db", "--password-credential", "db", "--info-file", info], new Dictionary<string, string?> { ["CREDENTIALS_DIRECTORY"] = dir }))
            {
                unlock.StandardInput.Close();
                Assert.True(unlock.WaitForExit() == 0, unlock.StandardError);
            }

            Assert.StartsWith(Sha256("from a credential"), ServedHost.Run(["exec", "--secret", "db", "--info-file", info, "--", "sha256sum"]).Stdout, StringComparison.Ordinal);

            using (ChildProcess unlock = ChildProcess.Start("/bin/sh", ["-c", "exec \"$0\" unlock --secret fd --password-fd 3 --info-file \"$1\" 3<\"$2\"", Executable, info, Path.Combine(dir, "fd-secret")]))
            {
                unlock.StandardInput.Close();
                Assert.True(unlock.WaitForExit() == 0, unlock.StandardError);
            }

            Assert.StartsWith(Sha256("from descriptor 3"), ServedHost.Run(["exec", "--secret", "fd", "--info-file", info, "--", "sha256sum"]).Stdout, StringComparison.Ordinal);

            (int empty, _, string error) = ServedHost.Run(["unlock", "--secret", "empty", "--password-stdin", "--info-file", info], string.Empty);
            Assert.Equal(1, empty);
            Assert.Contains("empty", error, StringComparison.OrdinalIgnoreCase);

            Assert.Equal(0, ServedHost.Run(["stop", "--info-file", info]).Code);
            Assert.Equal(0, serve.WaitForExit());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task AMessageNamingTheGatewayAsItsOwnSender_IsRefusedOnce_NotInALoop()
    {
        using var host = ServedHost.Start("no loop secret");
        string address = File.ReadAllLines(host.InfoFile).Single(l => l.StartsWith("address=", StringComparison.Ordinal))["address=".Length..];
        using var rogue = Akka.Actor.ActorSystem.Create("rogue", ActorVault.Configuration.ActorVaultConfig.ForHostClient(Akka.Configuration.Config.Empty));
        Akka.Actor.ActorIdentity identity = await rogue.ActorSelection(address + "/user/host").Ask<Akka.Actor.ActorIdentity>(new Akka.Actor.Identify(5L), TimeSpan.FromSeconds(20));
        Akka.Actor.IActorRef gateway = identity.Subject!;
        gateway.Tell("bounce", gateway);
        host.Serve.WaitForError("unexpected String");

        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(0, host.Cli("exec", "--", "true").Code);
        }

        string[] refusals = [.. host.Serve.StandardError.Split('\n').Where(l => l.Contains("Audit: refused a message", StringComparison.Ordinal))];
        Assert.True(refusals.Length is >= 1 and < 5, $"{refusals.Length} refusal lines:\n{string.Join('\n', refusals.Take(5))}");
        await rogue.Terminate();
    }

    [Fact]
    public async Task AHalfSentFrameLongerThan32KiB_OnTheHostsPort_IsClosedAtItsLengthPrefix()
    {
        using var host = ServedHost.Start("frame secret");
        string address = File.ReadAllLines(host.InfoFile).Single(l => l.StartsWith("address=", StringComparison.Ordinal));
        int port = int.Parse(address[(address.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);
        var sockets = new List<System.Net.Sockets.Socket>();
        try
        {
            // What cost ~160 KiB per connection before: a length prefix of ~127,000 bytes, then most of them.
            for (int i = 0; i < 20; i++)
            {
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                await socket.ConnectAsync(System.Net.IPAddress.Loopback, port);
                sockets.Add(socket);
                byte[] frame = new byte[4 + 60_000];
                System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(frame, 127_000); // Akka's DotNetty framing is little-endian
                System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(4), 127_000);
                try
                {
                    await socket.SendAsync(frame);
                }
                catch (System.Net.Sockets.SocketException)
                {
                    // already closed by the host
                }
            }

            foreach (System.Net.Sockets.Socket socket in sockets)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                int read;
                try
                {
                    read = await socket.ReceiveAsync(new byte[64], System.Net.Sockets.SocketFlags.None, timeout.Token);
                }
                catch (System.Net.Sockets.SocketException)
                {
                    read = 0; // reset: closed too
                }

                Assert.Equal(0, read);
            }

            Assert.Equal(0, host.Cli("exec", "--", "true").Code);
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task KillAndPoisonPill_FromAnyLocalProcess_ToEveryGuardianOfTheHost_ChangeNothing()
    {
        // The host's client port is still TCP on 127.0.0.1 (any local user reaches it); the rogue sends
        // with Akka's stock serializers, as an attacker's own actor system would.
        using var host = ServedHost.Start("guardian secret");
        string address = File.ReadAllLines(host.InfoFile).Single(l => l.StartsWith("address=", StringComparison.Ordinal))["address=".Length..];
        Akka.Configuration.Config stock = Akka.Configuration.ConfigurationFactory.ParseString(
            """
            akka.actor.serializers.akka-misc = "Akka.Remote.Serialization.MiscMessageSerializer, Akka.Remote"
            akka.actor.serialization-identifiers { "Akka.Remote.Serialization.MiscMessageSerializer, Akka.Remote" = 16 }
            """);
        using var rogue = Akka.Actor.ActorSystem.Create("rogue", ActorVault.Configuration.ActorVaultConfig.ForHostClient(stock));
        foreach (string path in (string[])["/user/host", "/user", "/system", "/"])
        {
            Akka.Actor.IActorRef target = ((Akka.Actor.ExtendedActorSystem)rogue).Provider.ResolveActorRef(address + path);
            target.Tell(Akka.Actor.Kill.Instance);
            target.Tell(Akka.Actor.PoisonPill.Instance);
            rogue.ActorSelection(address + path).Tell(Akka.Actor.Kill.Instance);
            Assert.Equal(0, host.Cli("exec", "--", "true").Code);
        }

        Assert.True(ProcessExit.IsRunning(host.Pid));
        Assert.Contains("refused an inbound akka-misc message 'K'", host.Serve.StandardError, StringComparison.Ordinal);
        await rogue.Terminate();
    }

    [Fact]
    public void TwoServesStartedTogether_OneServes_TheOtherFailsWithoutTouchingItsFile()
    {
        string dir = Directory.CreateTempSubdirectory("actorvault-race-").FullName;
        string info = Path.Combine(dir, "host.info");
        try
        {
            using ChildProcess a = ChildProcess.Start(Executable, ["serve", "--password-stdin", "--info-file", info]);
            using ChildProcess b = ChildProcess.Start(Executable, ["serve", "--password-stdin", "--info-file", info]);
            a.StandardInput.Write("race secret\n");
            a.StandardInput.Close();
            b.StandardInput.Write("race secret\n");
            b.StandardInput.Close();

            // Exactly one publishes; the other exits 1 with one clear line.
            ChildProcess? winner = null, loser = null;
            DateTime until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (winner is null || loser is null)
            {
                Assert.True(DateTime.UtcNow < until, $"a: {a.StandardError}\nb: {b.StandardError}");
                foreach ((ChildProcess one, ChildProcess other) in new[] { (a, b), (b, a) })
                {
                    if (one.Process.HasExited && one.Process.ExitCode == 1)
                    {
                        loser = one;
                        winner = other;
                    }
                }

                Thread.Yield();
                a.Process.WaitForExit(50);
            }

            string ready = winner.WaitForLine("ACTORVAULT-HOST-READY");
            Assert.Equal(1, loser.WaitForExit()); // drains its stderr
            Assert.Contains("actorvault: ", loser.StandardError, StringComparison.Ordinal);
            Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"pid={winner.Pid}"), File.ReadAllText(info), StringComparison.Ordinal);
            (int code, string stdout, _) = ServedHost.Run(["exec", "--info-file", info, "--", "sha256sum"]);
            Assert.Equal(0, code);
            Assert.StartsWith(Sha256("race secret"), stdout, StringComparison.Ordinal);
            Assert.Equal(0, ServedHost.Run(["stop", "--info-file", info]).Code);
            Assert.Equal(0, winner.WaitForExit());
            Assert.Contains("ACTORVAULT-HOST-READY", ready, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task StandaloneVaultClient_LeasesInProcess_ZeroesAtTheDeadline_AndIsRefusedWithAnotherKey()
    {
        using var host = ServedHost.Start("leased in process");
        await using (Standalone.StandaloneVaultClient vault = await Standalone.StandaloneVaultClient.ConnectAsync(host.InfoFile))
        {
            Assert.Equal(host.Pid, vault.HostPid);
            string digest = await vault.WithSecretAsync("password", static bytes => Convert.ToHexStringLower(SHA256.HashData(bytes)));
            Assert.Equal(Sha256("leased in process"), digest);

            // The deadline zeroes the bytes while the callback still reads them, and the call throws:
            // a value computed from zeroed bytes is never returned.
            bool zeroed = false;
            await Assert.ThrowsAsync<LeaseExpiredException>(() => vault.WithSecretAsync("password", bytes =>
            {
                DateTime until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
                while (bytes.IndexOfAnyExcept((byte)0) >= 0 && DateTime.UtcNow < until)
                {
                    Thread.SpinWait(1000);
                }

                zeroed = bytes.IndexOfAnyExcept((byte)0) < 0;
                return zeroed;
            }, TimeSpan.FromMilliseconds(300)));
            Assert.True(zeroed);

            await Assert.ThrowsAsync<VaultOperationException>(() => vault.WithSecretAsync("no-such-secret", static bytes => bytes.Length));
        }

        string forged = host.InfoFileWith("forged.info", "key", Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)));
        Standalone.HostConnectionException refused = await Assert.ThrowsAsync<Standalone.HostConnectionException>(() => Standalone.StandaloneVaultClient.ConnectAsync(forged));
        Assert.Contains("refused this client", refused.Message, StringComparison.Ordinal);
    }

    private static int Threads(int pid) => ProcStatus.Threads(pid);

    internal static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    /// <summary>A running <c>actorvault serve</c> with its secret given on stdin and its info file in a private temp directory.</summary>
    [RootFact]
    public void Serve_AskedForCrashDumpsAndADiagnosticPort_RunsWithNeither()
    {
        // The mechanism on a real crash is proven by ProcessEvidenceTests.Crash_WithADumpAskedFor…
        var environment = new Dictionary<string, string?>
        {
            ["DOTNET_DbgEnableMiniDump"] = "1",
            ["DOTNET_DbgMiniDumpType"] = "4",
            ["DOTNET_EnableCrashReport"] = "1",
            ["DOTNET_EnableDiagnostics"] = null,
        };
        if (Environment.GetEnvironmentVariable("DOTNET_EnableDiagnostics") != "0")
        {
            // The control for the path computation: this test process has its port open, at that path.
            Assert.True(File.Exists(ProcStatus.DiagnosticSocketPath(Environment.ProcessId)), "the diagnostic socket path is computed wrongly");
        }

        using var host = ServedHost.Start("dump secret", environment: environment);
        foreach ((string who, int pid) in (ValueTuple<string, int>[])[("serve", host.Pid), ("vault", host.VaultPid)])
        {
            string[] env = File.ReadAllText($"/proc/{pid}/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries);
            Assert.Contains("DOTNET_EnableDiagnostics=0", env);
            foreach (string name in (string[])["DOTNET_DbgEnableMiniDump", "DOTNET_DbgMiniDumpType", "DOTNET_EnableCrashReport"])
            {
                Assert.DoesNotContain(env, e => e.StartsWith(name + "=", StringComparison.Ordinal));
            }

            Assert.False(File.Exists(ProcStatus.DiagnosticSocketPath(pid)), $"{who} {pid} has a diagnostic socket");
            Assert.Contains("Max core file size        0", File.ReadAllText($"/proc/{pid}/limits"), StringComparison.Ordinal);
        }
    }

    internal sealed class ServedHost : IDisposable
    {
        private readonly bool _ownsDirectory;

        private ServedHost(ChildProcess serve, string infoFile, bool ownsDirectory)
        {
            Serve = serve;
            InfoFile = infoFile;
            _ownsDirectory = ownsDirectory;
            string ready = serve.WaitForLine("ACTORVAULT-HOST-READY");
            Pid = int.Parse(Field(ready, "pid"), CultureInfo.InvariantCulture);
            VaultPid = int.Parse(Field(ready, "vault"), CultureInfo.InvariantCulture);
            Assert.Equal(infoFile, Field(ready, "info"));
        }

        public ChildProcess Serve { get; }

        public ChildProcess Process => Serve;

        public string InfoFile { get; }

        public string Directory => Path.GetDirectoryName(InfoFile)!;

        public int Pid { get; }

        public int VaultPid { get; }

        public static ServedHost Start(string secret, string? infoFile = null, bool mutualTls = false, IDictionary<string, string?>? environment = null)
        {
            bool owns = infoFile is null;
            infoFile ??= Path.Combine(System.IO.Directory.CreateTempSubdirectory("actorvault-host-").FullName, "host.info");
            ChildProcess serve = ChildProcess.Start(Executable, ["serve", "--password-stdin", "--info-file", infoFile, .. (mutualTls ? (string[])["--mutual-tls"] : [])], environment);
            serve.StandardInput.Write(secret + "\n");
            serve.StandardInput.Close();
            return new ServedHost(serve, infoFile, owns);
        }

        /// <summary>Runs <c>actorvault ARGS</c> to its end; stdin gets <paramref name="input"/> (then end of input).</summary>
        public static (int Code, string Stdout, string Stderr) Run(string[] args, string input = "")
        {
            using ChildProcess cli = ChildProcess.Start(Executable, args);
            cli.StandardInput.Write(input);
            cli.StandardInput.Close();
            int code = cli.WaitForExit();
            return (code, string.Join('\n', cli.Lines), cli.StandardError);
        }

        public (int Code, string Stdout, string Stderr) Cli(params string[] args) => Cli(args, string.Empty);

        public (int Code, string Stdout, string Stderr) Cli(string[] args, string input) =>
            Run(args.Contains("--info-file") || args.Contains("--help") ? args : [args[0], "--info-file", InfoFile, .. args[1..]], input);

        /// <summary>
        /// A copy of the info file (mode 0600, next to it) with some fields replaced:
        /// <paramref name="replacements"/> alternates field name and new value.
        /// </summary>
        public string InfoFileWith(string fileName, params string[] replacements)
        {
            string path = Path.Combine(Directory, fileName);
            File.WriteAllLines(path, File.ReadAllLines(InfoFile).Select(line =>
            {
                for (int i = 0; i < replacements.Length; i += 2)
                {
                    if (line.StartsWith(replacements[i] + "=", StringComparison.Ordinal))
                    {
                        return $"{replacements[i]}={replacements[i + 1]}";
                    }
                }

                return line;
            }));
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            return path;
        }

        public void Kill()
        {
            ProcessExit.Signal(Pid, 9);
            Serve.WaitForExit();
            Assert.True(ProcessExit.Wait(VaultPid, TimeSpan.FromSeconds(10)) is not null, "the vault outlived its killed host");
        }

        public void Dispose()
        {
            if (ProcessExit.IsRunning(Pid))
            {
                ProcessExit.Signal(Pid, 9);
            }

            Serve.Dispose();
            if (_ownsDirectory)
            {
                try
                {
                    System.IO.Directory.Delete(Directory, recursive: true);
                }
                catch (DirectoryNotFoundException)
                {
                }
            }
        }

        private static string Field(string line, string name)
        {
            string token = line.Split(' ').Single(t => t.StartsWith(name + "=", StringComparison.Ordinal));
            return token[(name.Length + 1)..];
        }
    }
}
