using System.Globalization;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ActorVault.Agent;
using ActorVault.Testing;

namespace ActorVault.IntegrationTests;

/// <summary>
/// The standalone host driven through the real <c>actorvault</c> executable, on its Unix socket:
/// serve → exec → status → lock → unlock → stop, the socket's permissions, another uid refused, stale
/// sockets, rogue frames, bytes handed over by digest, and memory scans of host, vault and client.
/// </summary>
public sealed class StandaloneHostTests
{
    internal static string Executable => Path.Combine(AppContext.BaseDirectory, "ActorVault.Host");

    [Fact]
    public void Serve_Exec_Status_Lock_Unlock_Stop_FullCycle()
    {
        using var host = ServedHost.Start("first secret ✓ with UTF-8");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(host.Socket));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(host.Directory));

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
            Assert.True(root.GetProperty("hostHardened").GetBoolean());
            Assert.Equal(host.Socket, root.GetProperty("socket").GetString());
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
        Assert.False(File.Exists(host.Socket), "the socket outlived the host");
        // Quiet by default: the host's own event lines, no Akka log line, no stack trace.
        Assert.DoesNotContain("[INFO]", host.Serve.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("Akka.", host.Serve.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", host.Serve.StandardError, StringComparison.Ordinal);
        Assert.Contains("exec 'sha256sum'", host.Serve.StandardError, StringComparison.Ordinal);
        // stdout carries only what scripts parse: the two export lines, nothing after stop.
        Assert.True(host.Serve.Lines.Count == 2, $"serve's stdout:\n{string.Join('\n', host.Serve.Lines)}");
    }

    [Fact]
    public void Exec_OnDescriptor3_PassesExactBytes_ReturnsTheCommandsExitCode_And126And127CloseTheirConnections()
    {
        using var host = ServedHost.Start("fd three secret");

        (int code, string stdout, string stderr) = host.Cli("exec", "--fd", "3", "--", "sh", "-c", "sha256sum <&3; exit 7");
        Assert.True(code == 7, stderr);
        Assert.StartsWith(Sha256("fd three secret"), stdout, StringComparison.Ordinal);

        string notExecutable = Path.Combine(host.Directory, "not-executable");
        File.WriteAllText(notExecutable, "#!/bin/sh\n");
        for (int i = 0; i < 20; i++)
        {
            (code, _, stderr) = host.Cli("exec", "--", "actorvault-no-such-command");
            Assert.Equal(127, code);
            Assert.Contains("not found", stderr, StringComparison.Ordinal);
            (code, _, stderr) = host.Cli("exec", "--", notExecutable);
            Assert.Equal(126, code);
            Assert.Contains("not executable", stderr, StringComparison.Ordinal);
        }

        // The command's stdin is the secret followed by end of input, nothing else.
        (code, stdout, _) = host.Cli("exec", "--", "wc", "-c");
        Assert.Equal(0, code);
        Assert.Equal("15", stdout.Trim());

        // None of those left a connection open (the status request's own is the one counted).
        (code, stdout, _) = host.Cli("status", "--json");
        Assert.Equal(0, code);
        using JsonDocument status = JsonDocument.Parse(stdout);
        Assert.Equal(1, status.RootElement.GetProperty("connections").GetInt32());
    }

    [Fact]
    public void Serve_RefusesADirectoryOthersCanEnter_AndASymbolicLinkedOne()
    {
        string dir = Directory.CreateTempSubdirectory("actorvault-open-").FullName;
        try
        {
            File.SetUnixFileMode(dir, (UnixFileMode)0x1ED); // 0755
            using (ChildProcess serve = ChildProcess.Start(Executable, ["serve", "--password-stdin", "--socket", Path.Combine(dir, "agent.sock")]))
            {
                serve.StandardInput.Write("x\n");
                serve.StandardInput.Close();
                Assert.Equal(1, serve.WaitForExit());
                Assert.Contains("can be entered or changed by other users", serve.StandardError, StringComparison.Ordinal);
                Assert.Single(serve.StandardError.Trim().Split('\n'));
            }

            Assert.False(File.Exists(Path.Combine(dir, "agent.sock")));
            string link = dir + "-link";
            File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            Directory.CreateSymbolicLink(link, dir);
            try
            {
                using ChildProcess serve = ChildProcess.Start(Executable, ["serve", "--password-stdin", "--socket", Path.Combine(link, "agent.sock")]);
                serve.StandardInput.Write("x\n");
                serve.StandardInput.Close();
                Assert.Equal(1, serve.WaitForExit());
                Assert.Contains("symbolic link", serve.StandardError, StringComparison.Ordinal);
            }
            finally
            {
                File.Delete(link);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [RootFact]
    public void AnotherUid_IsRefusedAtConnect_BeforeAByteIsRead_UnlessAllowed()
    {
        // The host runs as nobody; this test (root) is "another uid". Root may pass any directory
        // permission, so this proves the kernel's peer-uid check itself.
        string copy = OtherUser.CopyForOtherUsers("actorvault-nobody-host-");
        string dir = Directory.CreateTempSubdirectory("actorvault-nobody-sock-").FullName;
        try
        {
            using (ChildProcess chown = ChildProcess.Start("chown", ["65534:65534", dir]))
            {
                Assert.Equal(0, chown.WaitForExit());
            }

            string socket = Path.Combine(dir, "agent.sock");
            foreach (bool allowRoot in (bool[])[false, true])
            {
                using ChildProcess serve = OtherUser.Start(Path.Combine(copy, "ActorVault.Host"), ["serve", "--password-stdin", "--socket", socket, .. allowRoot ? (string[])["--allow-root"] : []]);
                serve.StandardInput.Write("nobody's secret\n");
                serve.StandardInput.Close();
                serve.WaitForLine("ACTORVAULT_PID=");
                // The CLI itself refuses a host of another uid before it sends a byte.
                (int code, string stdout, string stderr) = ServedHost.Run(["exec", "--socket", socket, "--", "sha256sum"]);
                Assert.Equal(125, code);
                Assert.Equal(string.Empty, stdout);
                Assert.Contains("runs as uid 65534", stderr, StringComparison.Ordinal);

                // A raw client (no such check) meets the host's: SO_PEERCRED, before a byte is read.
                using AgentSocket raw = AgentSocket.Connect(socket);
                AgentFrame? reply;
                try
                {
                    raw.Send(new AgentHeader(AgentKind.Status, 1));
                    reply = raw.Receive();
                }
                catch (IOException)
                {
                    reply = null; // reset or broken pipe: closed by the host
                }

                using (reply)
                {
                    if (allowRoot)
                    {
                        Assert.NotNull(reply);
                        Assert.Equal(AgentKind.Ok, reply.Header.Kind);
                        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"host-pid={serve.Pid}"), reply.Header.Status, StringComparison.Ordinal);
                    }
                    else
                    {
                        Assert.Null(reply);
                        serve.WaitForError("(uid 0): only uid 65534 may connect");
                    }
                }

                // Root's "stop" is refused like any request; the test ends its own process by pid.
                ProcessExit.Signal(serve.Pid, 15);
                Assert.Equal(128 + 15, serve.WaitForExit());
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
            Directory.Delete(copy, recursive: true);
        }
    }

    [RootFact]
    public void AnotherUsersDirectoryAtTheDefaultPath_CannotBlockServe()
    {
        // Another user (here root) made nobody's default /tmp/actorvault-65534 first.
        string copy = OtherUser.CopyForOtherUsers("actorvault-nobody-block-");
        string blocked = "/tmp/actorvault-65534";
        if (Directory.Exists(blocked))
        {
            Directory.Delete(blocked, recursive: true);
        }

        Directory.CreateDirectory(blocked, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            using ChildProcess serve = ChildProcess.Start(
                "/usr/bin/setpriv",
                ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--", Path.Combine(copy, "ActorVault.Host"), "serve", "--password-stdin"],
                new Dictionary<string, string?> { ["HOME"] = "/tmp", ["TMPDIR"] = "/tmp", ["XDG_RUNTIME_DIR"] = null });
            serve.StandardInput.Write("not blocked\n");
            serve.StandardInput.Close();
            string exports = serve.WaitForLine("ACTORVAULT_SOCK=");
            string socket = exports["ACTORVAULT_SOCK=".Length..exports.IndexOf(';', StringComparison.Ordinal)];
            Assert.StartsWith("/tmp/actorvault-65534-", socket, StringComparison.Ordinal);
            Assert.Contains("belongs to uid 0", serve.StandardError, StringComparison.Ordinal);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(socket)!));
            ProcessExit.Signal(serve.Pid, 15);
            Assert.Equal(128 + 15, serve.WaitForExit());
            Assert.False(File.Exists(socket));
            Directory.Delete(Path.GetDirectoryName(socket)!, recursive: true);
        }
        finally
        {
            Directory.Delete(blocked, recursive: true);
            Directory.Delete(copy, recursive: true);
        }
    }

    [Fact]
    public void NoHost_AStaleSocket_AndASecondServe_AreClearErrors()
    {
        string dir = Directory.CreateTempSubdirectory("actorvault-none-").FullName;
        try
        {
            (int code, _, string stderr) = ServedHost.Run(["status", "--socket", Path.Combine(dir, "agent.sock")]);
            Assert.Equal(1, code);
            Assert.Contains("No actorvault host", stderr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }

        using var host = ServedHost.Start("only one host");
        using ChildProcess second = ChildProcess.Start(Executable, ["serve", "--password-stdin", "--socket", host.Socket]);
        second.StandardInput.Write("x\n");
        second.StandardInput.Close();
        Assert.Equal(1, second.WaitForExit());
        Assert.Contains("Another actorvault host serves", second.StandardError, StringComparison.Ordinal);

        // The host dies without cleaning up: clients say so; a new serve replaces the stale socket.
        host.Kill();
        Assert.True(File.Exists(host.Socket), "SIGKILL leaves the socket behind");
        (int stale, _, string message) = host.Cli("status");
        Assert.Equal(1, stale);
        Assert.Contains("stale socket", message, StringComparison.Ordinal);
        using var next = ServedHost.Start("the next host", host.Socket);
        (int ok, string digest, _) = next.Cli("exec", "--", "sha256sum");
        Assert.Equal(0, ok);
        Assert.StartsWith(Sha256("the next host"), digest, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(15)]
    [InlineData(2)]
    public void Serve_Signal_RemovesTheSocket_StopsTheVault_Exits128PlusN(int signal)
    {
        using var host = ServedHost.Start("signal secret");
        ProcessExit.Signal(host.Pid, signal);
        Assert.Equal(128 + signal, host.Process.WaitForExit());
        Assert.False(File.Exists(host.Socket));
        Assert.True(ProcessExit.Wait(host.VaultPid, TimeSpan.FromSeconds(10)) is not null, "the vault outlived its host");
    }

    [Fact]
    public void ServeWithACommand_RunsItWithTheSocketSet_AndStopsWithItsExitCode()
    {
        string dir = Directory.CreateTempSubdirectory("actorvault-cmd-").FullName;
        try
        {
            string socket = Path.Combine(dir, "agent.sock");
            // CMD uses the host through ACTORVAULT_SOCK alone (no --socket), then exits 3.
            using ChildProcess serve = ChildProcess.Start(Executable, ["serve", "--password-stdin", "--socket", socket, "--", "/bin/sh", "-c", "\"$0\" exec -- sha256sum; echo \"pid=$ACTORVAULT_PID\"; exit 3", Executable]);
            serve.StandardInput.Write("command secret\n");
            serve.StandardInput.Close();
            Assert.Equal(3, serve.WaitForExit());
            string output = string.Join('\n', serve.Lines);
            Assert.Contains(Sha256("command secret"), output, StringComparison.Ordinal);
            Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"pid={serve.Pid}"), output, StringComparison.Ordinal);
            Assert.StartsWith($"ACTORVAULT_SOCK={socket}; export ACTORVAULT_SOCK;", output, StringComparison.Ordinal);
            Assert.False(File.Exists(socket), "the socket outlived serve -- CMD");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Lifetime_IdleLock_AndUnlockT_LockTheSecret_ZeroItsLeases_AndStatusShowsWhen()
    {
        string dir = Directory.CreateTempSubdirectory("actorvault-ttl-").FullName;
        string socket = Path.Combine(dir, "agent.sock");
        try
        {
            using ChildProcess serve = ChildProcess.Start(Executable, ["serve", "--password-stdin", "--socket", socket, "--lifetime", "4s", "--idle-lock", "1h"]);
            serve.StandardInput.Write("short-lived secret\n");
            serve.StandardInput.Close();
            serve.WaitForLine("ACTORVAULT_PID=");
            var started = System.Diagnostics.Stopwatch.StartNew();
            (int code, string stdout, _) = ServedHost.Run(["status", "--socket", socket]);
            Assert.Equal(0, code);
            Assert.Contains("password (unlocked, locks in 0m ", stdout, StringComparison.Ordinal);
            (code, stdout, _) = ServedHost.Run(["status", "--json", "--socket", socket]);
            using (JsonDocument status = JsonDocument.Parse(stdout))
            {
                long at = status.RootElement.GetProperty("secrets")[0].GetProperty("locksAtMs").GetInt64();
                Assert.InRange(DateTimeOffset.FromUnixTimeMilliseconds(at) - DateTimeOffset.UtcNow, TimeSpan.FromSeconds(-1), TimeSpan.FromSeconds(5));
            }

            // Leasing does not extend an absolute lifetime.
            Assert.Equal(0, ServedHost.Run(["exec", "--socket", socket, "--", "true"]).Code);
            serve.WaitForError("secret 'password' locked: its lifetime of 4 s ended");
            Assert.True(started.Elapsed >= TimeSpan.FromSeconds(3), $"locked after {started.Elapsed}, before its lifetime");
            (code, _, string stderr) = ServedHost.Run(["exec", "--socket", socket, "--", "true"]);
            Assert.Equal(125, code);
            Assert.Contains("locked", stderr, StringComparison.Ordinal);

            // unlock -t: this secret's own lifetime.
            (code, _, stderr) = ServedHost.Run(["unlock", "-t", "2", "--secret", "short", "--password-stdin", "--socket", socket], "two seconds\n");
            Assert.True(code == 0, stderr);
            serve.WaitForError("secret 'short' locked: its lifetime of 2 s ended");
            Assert.Equal(125, ServedHost.Run(["exec", "--secret", "short", "--socket", socket, "--", "true"]).Code);
            Assert.Equal(0, ServedHost.Run(["stop", "--socket", socket]).Code);
            Assert.Equal(0, serve.WaitForExit());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void IdleLock_LocksASecretNobodyLeased_AndEachLeaseRestartsIt()
    {
        string dir = Directory.CreateTempSubdirectory("actorvault-idle-").FullName;
        string socket = Path.Combine(dir, "agent.sock");
        try
        {
            using ChildProcess serve = ChildProcess.Start(Executable, ["serve", "--password-stdin", "--socket", socket, "--idle-lock", "3s"]);
            serve.StandardInput.Write("idle secret\n");
            serve.StandardInput.Close();
            serve.WaitForLine("ACTORVAULT_PID=");
            var sinceLastUse = System.Diagnostics.Stopwatch.StartNew();
            for (int i = 0; i < 3; i++)
            {
                Assert.Equal(0, ServedHost.Run(["exec", "--socket", socket, "--", "true"]).Code);
                sinceLastUse.Restart();
            }

            serve.WaitForError("secret 'password' locked: idle for 3 s");
            Assert.True(sinceLastUse.Elapsed >= TimeSpan.FromSeconds(2.5), $"locked {sinceLastUse.Elapsed} after the last lease, before the idle time");
            Assert.Equal(125, ServedHost.Run(["exec", "--socket", socket, "--", "true"]).Code);
            Assert.Equal(0, ServedHost.Run(["stop", "--socket", socket]).Code);
            Assert.Equal(0, serve.WaitForExit());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void ServeDaemon_EvalSetsTheExports_ReturnsAtOnce_AndTheHostRunsDetached()
    {
        string dir = Directory.CreateTempSubdirectory("actorvault-daemon-").FullName;
        string socket = Path.Combine(dir, "agent.sock");
        int daemonPid = 0;
        try
        {
            // The shell returns only if the daemon holds none of its pipes; then it uses the exports.
            using ChildProcess shell = ChildProcess.Start("/bin/sh", ["-c", "eval \"$(\"$0\" serve --daemon --password-stdin --socket \"$1\")\" && echo \"daemon=$ACTORVAULT_PID\" && \"$0\" exec -- sha256sum", Executable, socket]);
            shell.StandardInput.Write("daemon secret\n");
            shell.StandardInput.Close();
            Assert.True(shell.WaitForExit() == 0, shell.StandardError);
            string daemonLine = shell.Lines.Single(l => l.StartsWith("daemon=", StringComparison.Ordinal));
            daemonPid = int.Parse(daemonLine["daemon=".Length..], CultureInfo.InvariantCulture);
            Assert.Contains(shell.Lines, l => l.StartsWith(Sha256("daemon secret"), StringComparison.Ordinal));
            Assert.True(ProcessExit.IsRunning(daemonPid), "the daemon is gone with its starter");

            // Its own session (no controlling terminal), its standard descriptors on /dev/null.
            string stat = File.ReadAllText($"/proc/{daemonPid}/stat");
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            Assert.Equal(daemonPid.ToString(CultureInfo.InvariantCulture), fields[3]); // session id
            Assert.Equal("0", fields[4]); // tty_nr
            foreach (int fd in (int[])[0, 1, 2])
            {
                Assert.Equal("/dev/null", new FileInfo($"/proc/{daemonPid}/fd/{fd}").LinkTarget);
            }

            Assert.Equal(0, ServedHost.Run(["stop", "--socket", socket]).Code);
            Assert.NotNull(ProcessExit.Wait(daemonPid, TimeSpan.FromSeconds(60)));
            Assert.False(File.Exists(socket));

            // A daemon that fails before it serves: its error and exit code reach the caller.
            (int code, string stdout, string stderr) = ServedHost.Run(["serve", "--daemon", "--password-stdin", "--socket", Path.Combine(dir, "x", "y", "agent.sock")], string.Empty);
            Assert.NotEqual(0, code);
            Assert.Equal(string.Empty, stdout);
            Assert.StartsWith("actorvault: ", stderr, StringComparison.Ordinal);
        }
        finally
        {
            if (daemonPid > 0 && ProcessExit.IsRunning(daemonPid))
            {
                ProcessExit.Signal(daemonPid, 9);
            }

            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void BadArguments_AreOneLineAndExit2()
    {
        foreach (string[] args in new[] { new[] { "exec" }, ["exec", "--fd", "-1", "--", "cat"], ["exec", "--ttl", "30", "--", "cat"], ["serve", "--lifetime", "0"], ["serve", "--idle-lock", "9999d"], ["unlock", "-t", "10x"], ["serve", "--rsa-bits", "1000"], ["serve", "--daemon", "--", "true"], ["serve", "--password-fd", "1"], ["unlock", "--password-stdin", "--password-file", "x"], ["lock", "--secret", "bad name!"], ["frobnicate"] })
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
    public void Exec_LeavesNoCopyInTheHostItsVault_OrTheClientWhileCmdRuns_AndTheClientLoadsNoAkka()
    {
        SecretPattern secret = SecretPattern.Create();
        using var host = ServedHost.Start(secret.Text);
        for (int i = 0; i < 5; i++)
        {
            (int code, string stdout, string stderr) = host.Cli("exec", "--", "sha256sum");
            Assert.True(code == 0, stderr);
            Assert.StartsWith(Sha256(secret.Text), stdout, StringComparison.Ordinal);
        }

        // CMD reads the secret from descriptor 3, says so, and waits on its stdin (the test's) while
        // the client process is scanned.
        using (ChildProcess exec = ChildProcess.Start(Executable, ["exec", "--socket", host.Socket, "--fd", "3", "--", "sh", "-c", "sha256sum <&3; echo read; read line"]))
        {
            exec.WaitForLine("read");
            Assert.StartsWith(Sha256(secret.Text), exec.Lines[0], StringComparison.Ordinal);
            ScanResult clientScan = MemoryScanner.Scan(exec.Pid, secret);
            string maps = File.ReadAllText($"/proc/{exec.Pid}/maps");
            Assert.True(clientScan.BytesScanned > 0);
            Assert.True(clientScan.Total == 0, $"exec client: {clientScan}");
            Assert.DoesNotContain("Akka", maps, StringComparison.Ordinal);
            Assert.DoesNotContain("Hyperion", maps, StringComparison.Ordinal);
            exec.StandardInput.WriteLine();
            exec.StandardInput.Close();
            Assert.Equal(0, exec.WaitForExit());
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
    public async Task AThousandExecRequests_SixteenAtATime_EveryDigestRight_ThenThreadsAndDescriptorsBackToBaseline()
    {
        const string Secret = "a thousand pipes";
        using var host = ServedHost.Start(Secret);
        Assert.Equal(0, host.Cli("exec", "--", "true").Code); // warm up
        int threadsBefore = ProcStatus.Threads(host.Pid);
        int descriptorsBefore = Directory.GetFiles($"/proc/{host.Pid}/fd").Length;
        string expected = Sha256(Secret);

        // What the CLI's exec sends (WriteTo with its pipe), from this process, 16 at a time …
        int wrong = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, 1000), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (_, ct) =>
        {
            using AgentClient client = AgentClient.Connect(host.Socket);
            (int read, int write) = AgentPipes.Create();
            try
            {
                AgentHeader reply = await client.AskAsync(new AgentHeader(AgentKind.WriteTo, 0) { Name = "password", Message = "test" }, TimeSpan.FromSeconds(60), ct, passDescriptor: write);
                AgentPipes.Close(ref write);
                await using var pipe = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(read, ownsHandle: true), FileAccess.Read);
                read = -1;
                byte[] bytes = new byte[64];
                int n = await pipe.ReadAtLeastAsync(bytes, 64, throwOnEndOfStream: false, ct);
                if (Convert.ToHexStringLower(SHA256.HashData(bytes.AsSpan(0, n))) != expected || reply.Length != n)
                {
                    Interlocked.Increment(ref wrong);
                }
            }
            finally
            {
                AgentPipes.Close(ref write);
                AgentPipes.Close(ref read);
            }
        });
        Assert.Equal(0, wrong);

        // … and the real CLI, 16 at a time too.
        ChildProcess[] execs = [.. Enumerable.Range(0, 16).Select(_ => ChildProcess.Start(Executable, ["exec", "--socket", host.Socket, "--", "sha256sum"]))];
        foreach (ChildProcess exec in execs)
        {
            using (exec)
            {
                Assert.Equal(0, exec.WaitForExit());
                Assert.StartsWith(expected, exec.Lines[0], StringComparison.Ordinal);
            }
        }

        (int code, string stdout, _) = host.Cli("status", "--json");
        Assert.Equal(0, code);
        using (JsonDocument status = JsonDocument.Parse(stdout))
        {
            Assert.Equal(1, status.RootElement.GetProperty("connections").GetInt32());
            Assert.True(status.RootElement.GetProperty("leasesGranted").GetInt64() >= 1017);
        }

        // Connections' threads end with them; the thread pool may keep a few more.
        int threadsAfter = ProcStatus.Threads(host.Pid);
        int descriptorsAfter = Directory.GetFiles($"/proc/{host.Pid}/fd").Length;
        Assert.True(threadsAfter <= threadsBefore + 8, $"host threads {threadsBefore} -> {threadsAfter}");
        Assert.True(descriptorsAfter <= descriptorsBefore + 2, $"host descriptors {descriptorsBefore} -> {descriptorsAfter}");
        if (MemoryScanner.CanScan)
        {
            SecretPattern pattern = SecretPattern.FromText(Secret);
            Assert.True(MemoryScanner.Scan(host.Pid, pattern).Total == 0, "host memory holds the secret after the execs");
            Assert.True(MemoryScanner.Scan(host.VaultPid, pattern).Total == 0, "vault memory holds the secret outside a lease after the execs");
        }
    }

    [Fact]
    public async Task AFloodOfConnectionsAndRogueFrames_IsCappedAndClosed_AndTheHostKeepsServing()
    {
        using var host = ServedHost.Start("flooded secret");
        Assert.Equal(0, host.Cli("exec", "--", "true").Code);
        int threadsBefore = ProcStatus.Threads(host.Pid);
        var random = new Random(11);
        var sockets = new List<Socket>();
        try
        {
            for (int i = 0; i < 300; i++)
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                sockets.Add(socket);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(host.Socket));
                }
                catch (SocketException)
                {
                    continue; // the listen backlog is full: the kernel refuses, the host is not involved
                }

                byte[] garbage = new byte[i % 3 == 0 ? 0 : random.Next(1, 2048)];
                random.NextBytes(garbage);
                if (i % 5 == 1 && garbage.Length >= 4)
                {
                    // A prefix claiming a header larger than the protocol allows.
                    System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(garbage, 1 << 30);
                }

                try
                {
                    await socket.SendAsync(garbage);
                }
                catch (SocketException)
                {
                    // closed by the host already
                }
            }

            // 64 connections at most (actorvault.host.max-connections): the rest are told "busy" and closed.
            int threadsOpen = ProcStatus.Threads(host.Pid);
            Assert.True(threadsOpen <= threadsBefore + 64 + 8, $"host threads with 300 connections attempted: {threadsBefore} -> {threadsOpen}");
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }

        // Once the rogues are gone, clients are served again.
        (int code, string stdout, string stderr) = RetryWhileBusy(() => host.Cli("exec", "--", "sha256sum"));
        Assert.True(code == 0, stderr);
        Assert.StartsWith(Sha256("flooded secret"), stdout, StringComparison.Ordinal);
        Assert.True(ProcessExit.IsRunning(host.Pid));
        Assert.DoesNotContain("   at ", host.Serve.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AHalfSentFrame_IsClosedAfterTheFrameTimeout_AndAnOversizedPrefixAtOnce()
    {
        using var host = ServedHost.Start("frame secret");
        using var stalled = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var oversized = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await stalled.ConnectAsync(new UnixDomainSocketEndPoint(host.Socket));
        await oversized.ConnectAsync(new UnixDomainSocketEndPoint(host.Socket));
        byte[] prefix = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(prefix, 100);
        await stalled.SendAsync(prefix.AsMemory(0, 6)); // 6 of 8 prefix bytes, then nothing
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(prefix.AsSpan(4), AgentProtocol.MaxSecretBytes + 1);
        await oversized.SendAsync(prefix);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(0, await oversized.ReceiveAsync(new byte[64], SocketFlags.None, timeout.Token));
        Assert.Equal(0, await stalled.ReceiveAsync(new byte[64], SocketFlags.None, timeout.Token));
        Assert.True(clock.Elapsed >= AgentSocket.FrameTimeout - TimeSpan.FromSeconds(1), $"the stalled frame was closed after {clock.Elapsed}, before its timeout");
        Assert.Equal(0, host.Cli("exec", "--", "true").Code);
    }

    [RootFact]
    public void TheHost_HoldsNoTcpOrUdpSocket_AndListensOnlyOnItsAgentSocket()
    {
        // No Akka.Remote faces clients: there is no guardian to send Kill or PoisonPill to.
        using var host = ServedHost.Start("boundary secret");
        HashSet<string> sockets = LinkBoundaryTests.SocketInodes(host.Pid);
        foreach (string table in (string[])["tcp", "tcp6", "udp", "udp6"])
        {
            string[] hits = [.. LinkBoundaryTests.InodesOf($"/proc/{host.Pid}/net/{table}", inodeColumn: 9).Where(sockets.Contains)];
            Assert.True(hits.Length == 0, $"host holds {table} socket(s) {string.Join(',', hits)}");
        }

        string[] listening = [.. File.ReadLines($"/proc/{host.Pid}/net/unix").Skip(1)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length > 6 && sockets.Contains(f[6]) && (int.Parse(f[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture) & 0x10000) != 0)
            .Select(f => f.Length > 7 ? f[7] : "(unnamed)")];
        Assert.Equal([host.Socket], listening);
    }

    [Fact]
    public void Serve_OnATerminal_ShowsProgress_AndTheVaultReadsTheSecretWithEchoOff_WithoutAkkaLines()
    {
        string dir = Directory.CreateTempSubdirectory("actorvault-tty-").FullName;
        string socket = Path.Combine(dir, "agent.sock");
        try
        {
            using var pty = new PseudoTerminal();
            using ChildProcess serve = pty.Start(Executable, ["serve", "--socket", socket]);
            pty.WaitForOutput("actorvault: starting the vault");
            pty.WaitForOutput("Secret 'password' for the actorvault host: ");
            Assert.True(pty.WaitForEcho(false), "echo is off while the vault reads the secret");
            pty.Type("typed at the terminal\r");
            pty.WaitForOutput("ACTORVAULT_PID=");

            (int code, string stdout, string stderr) = ServedHost.Run(["exec", "--socket", socket, "--", "sha256sum"]);
            Assert.True(code == 0, stderr);
            Assert.StartsWith(Sha256("typed at the terminal"), stdout, StringComparison.Ordinal);
            pty.WaitForOutput("exec 'sha256sum'");
            Assert.Equal(0, ServedHost.Run(["stop", "--socket", socket]).Code);
            Assert.Equal(0, serve.WaitForExit());
            Assert.DoesNotContain("typed at the terminal", pty.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("[INFO]", pty.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("Akka", pty.Output, StringComparison.Ordinal);
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
        string socket = Path.Combine(dir, "agent.sock");
        string file = Path.Combine(dir, "secret.txt");
        File.WriteAllText(file, "from a file\n");
        File.WriteAllText(Path.Combine(dir, "db"), "from a credential");
        File.WriteAllText(Path.Combine(dir, "fd-secret"), "from descriptor 3");
        try
        {
            using ChildProcess serve = ChildProcess.Start(Executable, ["serve", "--password-file", file, "--socket", socket]);
            serve.StandardInput.Close();
            serve.WaitForLine("ACTORVAULT_PID=");
            Assert.StartsWith(Sha256("from a file"), ServedHost.Run(["exec", "--socket", socket, "--", "sha256sum"]).Stdout, StringComparison.Ordinal);

            using (ChildProcess unlock = ChildProcess.Start(Executable, ["unlock", "--secret", "db", "--password-credential", "db", "--socket", socket], new Dictionary<string, string?> { ["CREDENTIALS_DIRECTORY"] = dir }))
            {
                unlock.StandardInput.Close();
                Assert.True(unlock.WaitForExit() == 0, unlock.StandardError);
            }

            Assert.StartsWith(Sha256("from a credential"), ServedHost.Run(["exec", "--secret", "db", "--socket", socket, "--", "sha256sum"]).Stdout, StringComparison.Ordinal);

            using (ChildProcess unlock = ChildProcess.Start("/bin/sh", ["-c", "exec \"$0\" unlock --secret fd --password-fd 3 --socket \"$1\" 3<\"$2\"", Executable, socket, Path.Combine(dir, "fd-secret")]))
            {
                unlock.StandardInput.Close();
                Assert.True(unlock.WaitForExit() == 0, unlock.StandardError);
            }

            Assert.StartsWith(Sha256("from descriptor 3"), ServedHost.Run(["exec", "--secret", "fd", "--socket", socket, "--", "sha256sum"]).Stdout, StringComparison.Ordinal);

            (int empty, _, string error) = ServedHost.Run(["unlock", "--secret", "empty", "--password-stdin", "--socket", socket], string.Empty);
            Assert.Equal(1, empty);
            Assert.Contains("empty", error, StringComparison.OrdinalIgnoreCase);

            Assert.Equal(0, ServedHost.Run(["stop", "--socket", socket]).Code);
            Assert.Equal(0, serve.WaitForExit());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task TwoServesStartedTogether_OneServes_TheOtherFailsWithOneLine()
    {
        string dir = Directory.CreateTempSubdirectory("actorvault-race-").FullName;
        string socket = Path.Combine(dir, "agent.sock");
        try
        {
            using ChildProcess a = ChildProcess.Start(Executable, ["serve", "--password-stdin", "--socket", socket]);
            using ChildProcess b = ChildProcess.Start(Executable, ["serve", "--password-stdin", "--socket", socket]);
            foreach (ChildProcess one in (ChildProcess[])[a, b])
            {
                one.StandardInput.Write("race secret\n");
                one.StandardInput.Close();
            }

            // Exactly one serves; the other exits 1 with one clear line.
            Task<int> aExit = Task.Run(() => a.WaitForExit(TimeSpan.FromSeconds(120)));
            Task<int> bExit = Task.Run(() => b.WaitForExit(TimeSpan.FromSeconds(120)));
            Task<int> first = await Task.WhenAny(aExit, bExit);
            (ChildProcess loser, ChildProcess winner) = first == aExit ? (a, b) : (b, a);
            Assert.Equal(1, await first);
            winner.WaitForLine("ACTORVAULT_PID=");
            Assert.Contains("Another actorvault host serves", loser.StandardError, StringComparison.Ordinal);
            (int code, string stdout, _) = ServedHost.Run(["exec", "--socket", socket, "--", "sha256sum"]);
            Assert.Equal(0, code);
            Assert.StartsWith(Sha256("race secret"), stdout, StringComparison.Ordinal);
            Assert.Equal(0, ServedHost.Run(["stop", "--socket", socket]).Code);
            Assert.Equal(0, winner.WaitForExit());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task StandaloneVaultClient_Leases_ZeroesAtTheDeadline_IsRevokedByLock_AndTheHostCapsItsTtl()
    {
        using var host = ServedHost.Start("leased in process", verbose: true);
        await using Standalone.StandaloneVaultClient vault = await Standalone.StandaloneVaultClient.ConnectAsync(host.Socket);
        Assert.Equal(host.Pid, vault.HostPid);
        string digest = await vault.WithSecretAsync("password", static bytes => Convert.ToHexStringLower(SHA256.HashData(bytes)));
        Assert.Equal(Sha256("leased in process"), digest);

        // The deadline zeroes the bytes while the callback still reads them, and the call throws.
        bool zeroed = false;
        await Assert.ThrowsAsync<LeaseExpiredException>(() => vault.WithSecretAsync("password", bytes =>
        {
            zeroed = WaitUntilZeroed(bytes);
            return zeroed;
        }, new LeaseOptions { Ttl = TimeSpan.FromMilliseconds(300) }));
        Assert.True(zeroed);

        // The host caps a longer lease than it allows (10 min), and says so in the grant.
        TimeSpan granted = await vault.WithSecretAsync("password", static lease => ValueTask.FromResult(lease.Deadline - lease.GrantedAt), new LeaseOptions { Ttl = TimeSpan.FromDays(60) });
        Assert.Equal(TimeSpan.FromMinutes(10), granted);

        // 'actorvault lock' from another process revokes the live lease of this one.
        var inside = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // On a thread of its own: the callback spins, and may start on the caller's thread when the
        // grant is already there by the time the call awaits it.
        Task<bool> held = Task.Run(() => vault.WithSecretAsync("password", lease =>
        {
            inside.SetResult();
            return ValueTask.FromResult(lease.Use(bytes => WaitUntilZeroed(bytes)));
        }, new LeaseOptions { Ttl = TimeSpan.FromMinutes(5) }));
        await inside.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(0, host.Cli("lock").Code);
        Exception? ended = await Record.ExceptionAsync(() => held.WaitAsync(TimeSpan.FromSeconds(90)));
        // Revoked by the lock itself, or by the vault's state change to Locked, whichever arrives first.
        Assert.True(ended is LeaseRevokedException && ended.Message.Contains("locked", StringComparison.Ordinal), $"{ended}\n--- host:\n{host.Serve.StandardError}");

        await Assert.ThrowsAsync<SecretLockedException>(() => vault.WithSecretAsync("password", static bytes => bytes.Length));
        await Assert.ThrowsAsync<SecretLockedException>(() => vault.WithSecretAsync("no-such-secret", static bytes => bytes.Length));
        await Assert.ThrowsAsync<VaultOperationException>(() => vault.WithSecretAsync("bad name!", static bytes => bytes.Length));

        Standalone.HostConnectionException none = await Assert.ThrowsAsync<Standalone.HostConnectionException>(() => Standalone.StandaloneVaultClient.ConnectAsync(Path.Combine(host.Directory, "nothing.sock")));
        Assert.Contains("No actorvault host", none.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StandaloneVaultClient_WhenTheHostStops_EndsItsLiveLease()
    {
        using var host = ServedHost.Start("host stops");
        await using Standalone.StandaloneVaultClient vault = await Standalone.StandaloneVaultClient.ConnectAsync(host.Socket);
        var inside = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<bool> held = Task.Run(() => vault.WithSecretAsync("password", bytes =>
        {
            inside.SetResult();
            return WaitUntilZeroed(bytes);
        }, new LeaseOptions { Ttl = TimeSpan.FromMinutes(5) }));
        await inside.Task.WaitAsync(TimeSpan.FromSeconds(60));
        ProcessExit.Signal(host.Pid, 15);
        // The host revokes it as it stops (LeaseRevoked), or its connection ends first (VaultUnavailable):
        // either way the bytes are zeroed and no value is returned.
        Exception ended = await Assert.ThrowsAnyAsync<Exception>(() => held.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.True(ended is LeaseRevokedException or VaultUnavailableException, ended.ToString());
    }

    private static bool WaitUntilZeroed(ReadOnlySpan<byte> bytes)
    {
        DateTime until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (bytes.IndexOfAnyExcept((byte)0) >= 0 && DateTime.UtcNow < until)
        {
            Thread.SpinWait(1000);
        }

        return bytes.IndexOfAnyExcept((byte)0) < 0;
    }

    private static (int Code, string Stdout, string Stderr) RetryWhileBusy(Func<(int Code, string Stdout, string Stderr)> run)
    {
        (int Code, string Stdout, string Stderr) result = run();
        for (int i = 0; i < 50 && result.Code == 125 && result.Stderr.Contains("try again", StringComparison.Ordinal); i++)
        {
            result = run();
        }

        return result;
    }

    internal static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

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

    /// <summary>A running <c>actorvault serve</c> with its secret given on stdin and its socket in a private temp directory.</summary>
    internal sealed class ServedHost : IDisposable
    {
        private readonly bool _ownsDirectory;

        private ServedHost(ChildProcess serve, string socket, bool ownsDirectory)
        {
            Serve = serve;
            Socket = socket;
            _ownsDirectory = ownsDirectory;
            string exports = serve.WaitForLine("ACTORVAULT_SOCK=");
            Assert.Equal($"ACTORVAULT_SOCK={socket}; export ACTORVAULT_SOCK;", exports);
            Pid = int.Parse(serve.WaitForLine("ACTORVAULT_PID=")["ACTORVAULT_PID=".Length..].TrimEnd(';').Split(';')[0], CultureInfo.InvariantCulture);
            (int code, string stdout, string stderr) = Cli("status", "--json");
            Assert.True(code == 0, stderr);
            using JsonDocument status = JsonDocument.Parse(stdout);
            VaultPid = status.RootElement.GetProperty("vaultPid").GetInt32();
        }

        public ChildProcess Serve { get; }

        public ChildProcess Process => Serve;

        public string Socket { get; }

        public string Directory => Path.GetDirectoryName(Socket)!;

        public int Pid { get; }

        public int VaultPid { get; }

        public static ServedHost Start(string secret, string? socket = null, IDictionary<string, string?>? environment = null, bool verbose = false)
        {
            bool owns = socket is null;
            socket ??= Path.Combine(System.IO.Directory.CreateTempSubdirectory("actorvault-host-").FullName, "agent.sock");
            ChildProcess serve = ChildProcess.Start(Executable, ["serve", "--password-stdin", "--socket", socket, .. verbose ? (string[])["--verbose"] : []], environment);
            serve.StandardInput.Write(secret + "\n");
            serve.StandardInput.Close();
            return new ServedHost(serve, socket, owns);
        }

        /// <summary>Runs <c>actorvault ARGS</c> to its end; stdin gets <paramref name="input"/> (then end of input).</summary>
        public static (int Code, string Stdout, string Stderr) Run(string[] args, string input = "")
        {
            using ChildProcess cli = ChildProcess.Start(Executable, args, new Dictionary<string, string?> { [AgentProtocol.SocketVariable] = null });
            cli.StandardInput.Write(input);
            cli.StandardInput.Close();
            int code = cli.WaitForExit();
            return (code, string.Join('\n', cli.Lines), cli.StandardError);
        }

        public (int Code, string Stdout, string Stderr) Cli(params string[] args) => Cli(args, string.Empty);

        public (int Code, string Stdout, string Stderr) Cli(string[] args, string input) =>
            Run(args.Contains("--socket") || args.Contains("--help") ? args : [args[0], "--socket", Socket, .. args[1..]], input);

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
    }
}
