using System.Diagnostics;
using System.Security.Cryptography;
using ActorVault.Memory;
using ActorVault.Memory.Readers;
using ActorVault.Testing;

namespace ActorVault.IntegrationTests;

/// <summary>This process is the application; the vault is the real `actorvault vault` child over real Akka.Remote.</summary>
public sealed class VaultClientTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task StartAsync_RealChild_IsHardenedLockedAndHoldsItsKeyInTheSecureHeap()
    {
        await using VaultClient client = await VaultClient.StartAsync();
        VaultStatus status = await client.GetStatusAsync();

        Assert.Equal(VaultState.Locked, status.State);
        Assert.True(status.VaultPid > 0 && status.VaultPid != Environment.ProcessId);
        Assert.True(status.Hardened, "the vault is not dumpable and has RLIMIT_CORE 0");
        Assert.Contains(status.Backing, new[] { "MemfdSecret", "LockedAnonymous" });
        Assert.Equal(2048, status.KeyBits);
        Assert.True(status.SecureHeapUsedBytes > 0, "the RSA private key is in the vault's OpenSSL secure heap");
        Assert.Empty(status.Secrets);

        SecureHeapUsage usage = await client.VerifyExpectedAllocationAsync();
        Assert.True(usage.Enabled && usage.PrivateKeyInSecureHeap);
        Assert.True(await client.CheckSecureHeapEnabledAsync());

        // The application never initialized a secure heap and holds no private key.
        Assert.Equal(0, OpenSslSecureHeap.Status().UsedBytes);
    }

    [RootFact]
    public async Task StartAsync_RealChild_GetsDiagnosticsDisabledAndNoSecretInArgvOrEnvironment()
    {
        await using VaultClient client = await VaultClient.StartAsync();
        string environ = (await File.ReadAllTextAsync($"/proc/{client.VaultPid}/environ")).Replace('\0', '\n');
        string cmdline = (await File.ReadAllTextAsync($"/proc/{client.VaultPid}/cmdline")).Replace('\0', ' ');

        Assert.Contains("DOTNET_EnableDiagnostics=0", environ.Split('\n'));
        Assert.Contains(" vault ", cmdline + " ");
        Assert.DoesNotContain("bootstrap", cmdline, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("ACTORVAULT_", environ, StringComparison.Ordinal);

        // The vault starts lean: the command-line library of the `actorvault` executable is not loaded.
        string maps = await File.ReadAllTextAsync($"/proc/{client.VaultPid}/maps");
        Assert.Contains("ActorVault.Host.dll", maps, StringComparison.Ordinal);
        Assert.DoesNotContain("System.CommandLine.dll", maps, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SetSecret_ArbitraryBytes_RoundTripExactlyAndCallerCopyIsZeroed()
    {
        await using VaultClient client = await VaultClient.StartAsync();
        byte[] original = [0x00, 0xFF, 0xC3, 0x28, (byte)'\n', 0x00, 0x80, .. RandomNumberGenerator.GetBytes(57)];
        byte[] input = [.. original];

        await client.SetSecretAsync("binary", input.AsSpan());

        Assert.All(input, b => Assert.Equal(0, b));
        Assert.Equal(VaultState.Unlocked, client.State);
        byte[] candidate = [.. original];
        Assert.True(await client.VerifySecretAsync("binary", candidate));
        Assert.All(candidate, b => Assert.Equal(0, b)); // the candidate is zeroed too, as SetSecretAsync's input
        byte[] wrong = [.. original];
        wrong[^1] ^= 1;
        Assert.False(await client.VerifySecretAsync("binary", wrong));
        using SecretBuffer opened = await client.OpenSecretAsync("binary");
        Assert.True(opened.FixedTimeEquals(original));
    }

    [Fact]
    public async Task ReadSecret_FromFileAndInheritedDescriptorErrors_AreClearAndLoseNothing()
    {
        await using VaultClient client = await VaultClient.StartAsync();
        string dir = Directory.CreateTempSubdirectory("actorvault-read-").FullName;
        try
        {
            string file = Path.Combine(dir, "secret");
            await File.WriteAllBytesAsync(file, "file secret\n"u8.ToArray());
            Assert.Equal(11, await client.ReadSecretAsync("from-file", new SecretSource.File(file)));
            Assert.True(await client.VerifySecretAsync("from-file", "file secret"u8.ToArray()));

            var missing = await Assert.ThrowsAsync<SecretInputException>(() => client.ReadSecretAsync("x", new SecretSource.File(Path.Combine(dir, "nope"))));
            Assert.Equal(SecretInputError.NotFound, missing.Error);

            string empty = Path.Combine(dir, "empty");
            await File.WriteAllBytesAsync(empty, "\n"u8.ToArray());
            var emptyError = await Assert.ThrowsAsync<SecretInputException>(() => client.ReadSecretAsync("x", new SecretSource.File(empty)));
            Assert.Equal(SecretInputError.Empty, emptyError.Error);

            string large = Path.Combine(dir, "large");
            await File.WriteAllBytesAsync(large, new byte[5000]);
            var tooLong = await Assert.ThrowsAsync<SecretInputException>(() => client.ReadSecretAsync("x", new SecretSource.File(large)));
            Assert.Equal(SecretInputError.TooLong, tooLong.Error);

            var stdin = await Assert.ThrowsAsync<SecretInputException>(() => client.ReadSecretAsync("x", new SecretSource.FileDescriptor(0)));
            Assert.Equal(SecretInputError.WrongSource, stdin.Error);

            var closed = await Assert.ThrowsAsync<SecretInputException>(() => client.ReadSecretAsync("x", new SecretSource.FileDescriptor(977)));
            Assert.Equal(SecretInputError.DescriptorClosed, closed.Error);

            var badName = await Assert.ThrowsAsync<VaultOperationException>(() => client.ReadSecretAsync("no/slashes", new SecretSource.File(file)));
            Assert.Equal(VaultError.BadRequest, badName.Error);

            var notFound = await Assert.ThrowsAsync<SecretUnavailableException>(() => client.OpenSecretAsync("never-set"));
            Assert.Equal(SecretUnavailableReason.NeverSet, notFound.Reason);

            // Nothing was lost: the earlier secret is intact and nothing half-read was stored.
            VaultStatus status = await client.GetStatusAsync();
            Assert.Equal(["from-file"], status.Secrets);
            Assert.True(await client.VerifySecretAsync("from-file", "file secret"u8.ToArray()));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task SecretsAtTheEdges_TooLargeEmptyAbsurdNamesAndTtls_AreClearErrors_NothingLost()
    {
        await using VaultClient client = await VaultClient.StartAsync();
        await client.SetSecretAsync("kept", "still here"u8.ToArray().AsSpan());

        byte[] big = new byte[5000];
        big.AsSpan().Fill(0x41);
        var tooLarge = await Assert.ThrowsAsync<VaultOperationException>(() => client.SetSecretAsync("big", big.AsSpan()));
        Assert.Equal(VaultError.SealedPayloadRejected, tooLarge.Error);
        Assert.Contains("1 to 4096 bytes", tooLarge.Message, StringComparison.Ordinal);
        Assert.All(big, b => Assert.Equal(0, b)); // zeroed even though the vault refused it

        Assert.Throws<ArgumentException>(() => { _ = client.SetSecretAsync("empty", Span<byte>.Empty); });
        var longName = await Assert.ThrowsAsync<VaultOperationException>(() => client.WithSecretAsync(new string('n', 5000), static s => s.Length));
        Assert.Equal(VaultError.BadRequest, longName.Error);
        var longTtl = await Assert.ThrowsAsync<VaultOperationException>(() => client.WithSecretAsync("kept", static s => s.Length, new LeaseOptions { Ttl = TimeSpan.FromDays(1) }));
        Assert.Contains("A lease lasts", longTtl.Message, StringComparison.Ordinal);

        Assert.Equal(10, await client.WithSecretAsync("kept", static s => s.Length));
        Assert.Equal(["kept"], (await client.GetStatusAsync()).Secrets);
    }

    [Fact]
    public async Task LockSecret_ForgetsItAndLaterAccessFailsClearly()
    {
        await using VaultClient client = await VaultClient.StartAsync();
        await client.SetSecretAsync("temp", "abc"u8.ToArray().AsSpan());
        Assert.True(await client.LockSecretAsync("temp"));
        Assert.False(await client.LockSecretAsync("temp"));
        Assert.Equal(VaultState.Locked, client.State);
        var e = await Assert.ThrowsAsync<SecretLockedException>(() => client.VerifySecretAsync("temp", "abc"u8.ToArray()));
        Assert.Equal(SecretUnavailableReason.Locked, e.Reason);
    }

    [Fact]
    public async Task GenerateSecureKeypair_3072_KeepsSecretsUsable()
    {
        await using VaultClient client = await VaultClient.StartAsync();
        await client.SetSecretAsync("kept", "survives re-keying"u8.ToArray().AsSpan());

        SecureHeapUsage usage = await client.GenerateSecureKeypairAsync(3072);

        Assert.Equal(3072, usage.KeyBits);
        Assert.True(usage.PrivateKeyInSecureHeap);
        // The new public key is used for sealing from now on, and the old secret opens.
        Assert.True(await client.VerifySecretAsync("kept", "survives re-keying"u8.ToArray()));
        await client.SetSecretAsync("after", "new key"u8.ToArray().AsSpan());
        Assert.True(await client.VerifySecretAsync("after", "new key"u8.ToArray()));
        await Assert.ThrowsAsync<VaultOperationException>(() => client.GenerateSecureKeypairAsync(1024));
    }

    [Fact]
    public async Task KillVault_PendingRequestsFailFast_BuffersZeroed_VaultComesBackLocked()
    {
        await using VaultClient client = await VaultClient.StartAsync(new VaultClientOptions { MinBackoff = TimeSpan.FromMilliseconds(100) });
        await client.SetSecretAsync("main", "before the crash"u8.ToArray().AsSpan());
        SecretBuffer opened = await client.OpenSecretAsync("main");
        int oldPid = client.VaultPid;

        string dir = Directory.CreateTempSubdirectory("actorvault-fifo-").FullName;
        string fifo = Path.Combine(dir, "never-written");
        using (Process mkfifo = Process.Start("mkfifo", [fifo])!)
        {
            await mkfifo.WaitForExitAsync();
            Assert.Equal(0, mkfifo.ExitCode);
        }

        var backLocked = new TaskCompletionSource<VaultStateChanged>(TaskCreationOptions.RunContinuationsAsynchronously);
        var restarting = new TaskCompletionSource<VaultStateChanged>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.StateChanged += (_, e) =>
        {
            if (e.State == VaultState.Restarting)
            {
                restarting.TrySetResult(e);
            }
            else if (e.State == VaultState.Locked && e.VaultPid != oldPid && e.VaultPid != 0)
            {
                backLocked.TrySetResult(e);
            }
        };

        // A request that stays pending: the vault blocks opening a FIFO nobody writes.
        Task<int> pending = client.ReadSecretAsync("pending", new SecretSource.File(fifo));
        await Task.Yield();
        Assert.False(pending.IsCompleted);

        var stopwatch = Stopwatch.StartNew();
        Process.GetProcessById(oldPid).Kill();
        var failure = await Assert.ThrowsAsync<VaultUnavailableException>(() => pending);
        TimeSpan failedAfter = stopwatch.Elapsed;

        Assert.Contains("SIGKILL", failure.Message, StringComparison.Ordinal);
        Assert.True(failedAfter < TimeSpan.FromSeconds(2), $"pending request failed after {failedAfter.TotalMilliseconds:0} ms");
        Assert.True(opened.IsZeroed, "the client-side buffer of the dead session was zeroed");
        Assert.Throws<ObjectDisposedException>(() => opened.Use(static _ => { }));
        Assert.Contains("SIGKILL", (await restarting.Task.WaitAsync(Generous)).Reason, StringComparison.Ordinal);

        VaultStateChanged back = await backLocked.Task.WaitAsync(Generous);
        Assert.NotEqual(oldPid, back.VaultPid);
        VaultStatus status = await client.GetStatusAsync();
        Assert.Equal(VaultState.Locked, status.State);
        Assert.Empty(status.Secrets);
        Assert.Equal(1, status.Restarts);
        var gone = await Assert.ThrowsAsync<SecretUnavailableException>(() => client.VerifySecretAsync("main", "before the crash"u8.ToArray()));
        Assert.Equal(SecretUnavailableReason.NeverSet, gone.Reason); // a restarted vault starts empty
        Assert.False(ProcessExit.IsRunning(oldPid));
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task StopAsync_VaultExits_NoOrphan_LaterCallsFailClearly()
    {
        VaultClient client = await VaultClient.StartAsync();
        int pid = client.VaultPid;
        await client.SetSecretAsync("s", "x"u8.ToArray().AsSpan());

        await client.StopAsync();

        Assert.NotNull(ProcessExit.Wait(pid, Generous));
        Assert.False(ProcessExit.IsRunning(pid));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.GetStatusAsync());
    }

    [Fact]
    public async Task StopAsync_HonoursAGraceLongerThanAShutdownPhase_BeforeItKillsAVaultThatDoesNotExit()
    {
        VaultClient client = await VaultClient.StartAsync();
        int pid = client.VaultPid;
        // A vault that cannot exit by itself (stopped): only the end of the grace (SIGKILL) ends it.
        ProcessExit.Signal(pid, 19);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await client.StopAsync(TimeSpan.FromSeconds(8));
        TimeSpan took = clock.Elapsed;
        Assert.NotNull(ProcessExit.Wait(pid, Generous));
        // CoordinatedShutdown's phases give up after 5 s: a grace cut at that point kills the vault early.
        Assert.True(took >= TimeSpan.FromSeconds(7.5), $"StopAsync(8 s) returned after {took}");
    }

    [Theory]
    [InlineData("kill")]
    [InlineData("stop")]
    public async Task ASupervisorThatDies_FailsEveryCallAtOnce_PublishesStopped_AndLeavesNoVault(string how)
    {
        await using VaultClient client = await VaultClient.StartAsync(new VaultClientOptions());
        var stopped = new TaskCompletionSource<VaultStateChanged>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.StateChanged += (_, e) =>
        {
            if (e.State == VaultState.Stopped)
            {
                stopped.TrySetResult(e);
            }
        };
        int vaultPid = client.VaultPid;

        if (how == "kill")
        {
            client.Supervisor.Tell(Akka.Actor.Kill.Instance, Akka.Actor.ActorRefs.NoSender); // what a remote Kill did before the wire filter
        }
        else
        {
            client.LinkSystem.Stop(client.Supervisor);
        }

        await stopped.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(VaultState.Stopped, client.State);
        // Well within the 35 s an Ask to a dead actor would take: the facade knows.
        var e = await Assert.ThrowsAsync<VaultUnavailableException>(() => client.GetStatusAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(VaultState.Stopped, e.State);
        await Assert.ThrowsAsync<VaultUnavailableException>(() => client.WithSecretAsync("main", static s => s.Length).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.NotNull(ProcessExit.Wait(vaultPid, TimeSpan.FromSeconds(30)));
    }
}
