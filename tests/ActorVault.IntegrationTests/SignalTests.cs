using System.Security.Cryptography;
using ActorVault.Testing;

namespace ActorVault.IntegrationTests;

/// <summary>Signals to either process: everything zeroed, both processes gone, conventional exit codes, no orphan.</summary>
public sealed class SignalTests
{
    private static readonly TimeSpan Five = TimeSpan.FromSeconds(5);

    public static TheoryData<int, string> Signals() => new() { { 15, "SIGTERM" }, { 2, "SIGINT" }, { 1, "SIGHUP" }, { 3, "SIGQUIT" } };

    [Theory]
    [MemberData(nameof(Signals))]
    public async Task VaultProcess_Signal_ZeroesAndExitsWith128PlusSignal(int signal, string name)
    {
        using BareVault bare = await BareVault.StartAsync();
        ChildProcess vault = bare.Process;

        ProcessExit.Signal(vault.Pid, signal);

        Assert.Equal(128 + signal, vault.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Contains($"signal {signal} ({name})", vault.StandardError, StringComparison.Ordinal);
        Assert.Contains("secret buffer(s) zeroed", vault.StandardError, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Signals))]
    public void Application_SignalWhileIdle_BothProcessesGoneWithin5s_NoOrphan(int signal, string name)
    {
        using AppProbe app = AppProbe.Start("--unlock", "stdin");
        app.Unlock("idle secret"u8);

        ProcessExit.Signal(app.AppPid, signal);

        Assert.NotNull(ProcessExit.Wait(app.AppPid, Five));
        Assert.True(ProcessExit.Wait(app.VaultPid, Five) is not null, $"vault outlived the application after {name}");
        Assert.Equal(128 + signal, app.Process.WaitForExit());
    }

    [Theory]
    [MemberData(nameof(Signals))]
    public void Application_SignalWith16LeasesInFlight_EveryCallerGetsAClearException_NoOrphan(int signal, string name)
    {
        using AppProbe app = AppProbe.Start("--unlock", "stdin");
        app.Unlock("busy secret"u8);
        app.Command("lease-hold 16", "HOLDING 16");

        ProcessExit.Signal(app.AppPid, signal);

        Assert.NotNull(ProcessExit.Wait(app.AppPid, Five));
        Assert.True(ProcessExit.Wait(app.VaultPid, Five) is not null, $"vault outlived the application after {name}");
        Assert.Equal(128 + signal, app.Process.WaitForExit());
        string[] ended = [.. app.Process.Lines.Where(l => l.StartsWith("HOLD-ENDED ", StringComparison.Ordinal))];
        Assert.Equal(16, ended.Length);
        Assert.All(ended, l => Assert.Equal("HOLD-ENDED type=LeaseRevokedException", l));
    }

    [RootFact]
    public void Application_Shutdown_ZeroesALiveLeaseInItsMemory_ProvenByScan()
    {
        SecretPattern secret = SecretPattern.Create(40);
        string path = Path.Combine(AppContext.BaseDirectory, "ActorVault.AppProbe");
        using AppProbe app = AppProbe.Attach(ChildProcess.Start(path, ["--backing", "locked", "--unlock", "stdin"], new Dictionary<string, string?> { ["ACTORVAULT_TEST_HOLD_AFTER_SHUTDOWN"] = "1" }));
        app.Unlock(secret.Utf8);
        app.Command("lease-hold 1", "HOLDING 1");

        // Control: a live lease in locked (not memfd_secret) memory is visible to root.
        ScanResult live = MemoryScanner.Scan(app.AppPid, secret);
        Assert.True(live.Utf8 >= 1, $"the live lease should be visible with the mlock backing: {live}");

        ProcessExit.Signal(app.AppPid, 1); // SIGHUP: CoordinatedShutdown, then the test setting keeps the process alive
        app.Process.WaitForLine("ACTORVAULT-APP-SHUTDOWN-DONE signal=1");
        Assert.Contains("HOLD-ENDED type=LeaseRevokedException", app.Process.Lines);

        ScanResult after = MemoryScanner.Scan(app.AppPid, secret);
        Assert.True(after.Total == 0, $"after shutdown: {after}");
        Assert.NotNull(ProcessExit.Wait(app.VaultPid, Five));
    }

    [Fact]
    public void Application_UnhandledException_WipesBeforeDying_VaultFollows()
    {
        using AppProbe app = AppProbe.Start("--unlock", "stdin");
        app.Unlock("crash secret"u8);
        app.Command("lease-hold 2", "HOLDING 2");

        app.Process.StandardInput.WriteLine("crash");
        app.Process.StandardInput.Flush();

        Assert.Equal(134, app.Process.WaitForExit()); // SIGABRT: .NET's unhandled-exception exit
        Assert.Contains("actorvault: unhandled InvalidOperationException; 2 lease buffer(s)", app.Process.StandardError, StringComparison.Ordinal);
        Assert.True(ProcessExit.Wait(app.VaultPid, TimeSpan.FromSeconds(1)) is not null, "the vault outlived its crashed parent by more than 1 s");
    }

    [Fact]
    public async Task CrashLoopingVault_StopsBeingRestartedAfterTheLimit_AndSaysSo()
    {
        await using VaultClient client = await VaultClient.StartAsync(new VaultClientOptions { MaxRestarts = 2, MinBackoff = TimeSpan.FromMilliseconds(50), MaxBackoff = TimeSpan.FromMilliseconds(200) });
        var stopped = new TaskCompletionSource<VaultStateChanged>(TaskCreationOptions.RunContinuationsAsynchronously);
        var up = new System.Collections.Concurrent.BlockingCollection<int>();
        client.StateChanged += (_, e) =>
        {
            if (e.State == VaultState.Stopped)
            {
                stopped.TrySetResult(e);
            }
            else if (e.State == VaultState.Locked)
            {
                up.Add(e.VaultPid);
            }
        };

        int pid = client.VaultPid;
        for (int crash = 0; crash < 3; crash++)
        {
            ProcessExit.Signal(pid, ProcessExit.SigKill);
            Assert.NotNull(ProcessExit.Wait(pid, TimeSpan.FromSeconds(30)));
            if (crash < 2)
            {
                Assert.True(up.TryTake(out pid, TimeSpan.FromSeconds(60)), "restarted");
            }
        }

        VaultStateChanged final = await stopped.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Contains("giving up", final.Reason, StringComparison.Ordinal);
        var e = await Assert.ThrowsAsync<VaultUnavailableException>(() => client.GetStatusAsync());
        Assert.Contains("giving up", e.Message, StringComparison.Ordinal);
    }

    [RootFact]
    public async Task Vault_ShutdownAfterLeases_ScanFindsNoCopy_WhileItIsKeptAlive()
    {
        SecretPattern secret = SecretPattern.Create(40);
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var launcher = new Client.VaultProcessLauncher(new Dictionary<string, string> { ["ACTORVAULT_TEST_HOLD_AFTER_SHUTDOWN"] = "1" });
        var options = new VaultClientOptions
        {
            UnresponsiveAfter = TimeSpan.FromMinutes(5), // keep the held vault alive while the test scans it
            VaultLog = line =>
            {
                log.Enqueue(line);
                if (line.StartsWith("ACTORVAULT-SHUTDOWN-DONE", StringComparison.Ordinal))
                {
                    done.TrySetResult();
                }
            },
        };
        await using VaultClient client = await VaultClient.StartAsync(options, launcher, null, null, CancellationToken.None);
        await client.SetSecretAsync("main", secret.Utf8.ToArray().AsSpan());
        for (int i = 0; i < 200; i++)
        {
            Assert.Equal(40, await client.WithSecretAsync("main", static s => s.Length));
        }

        int vaultPid = client.VaultPid;
        ProcessExit.Signal(vaultPid, 15);
        await done.Task.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.True(ProcessExit.IsRunning(vaultPid), "the test setting keeps the vault alive after its shutdown");
        Assert.Contains(log, l => l.Contains("signal 15 (SIGTERM)", StringComparison.Ordinal) && l.Contains("zeroed", StringComparison.Ordinal));
        ScanResult scan = MemoryScanner.Scan(vaultPid, secret);
        Assert.True(scan.BytesScanned > 10_000_000, $"scanned only {scan.BytesScanned} bytes");
        Assert.True(scan.Total == 0, $"vault after shutdown: {scan}");
    }
}
