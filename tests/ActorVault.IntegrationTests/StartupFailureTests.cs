using ActorVault.Testing;

namespace ActorVault.IntegrationTests;

/// <summary>A vault that cannot start gives a clear error with its stderr tail, never a hang, and leaves no process behind.</summary>
public sealed class StartupFailureTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("actorvault-startup-").FullName;

    [Fact]
    public async Task StartAsync_ExecutableMissing_NamesThePath()
    {
        string path = Path.Combine(_dir, "no-such-actorvault");
        var e = await Assert.ThrowsAsync<VaultStartupException>(() => VaultClient.StartAsync(new VaultClientOptions { ExecutablePath = path }));
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Contains("does not exist", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_ChildExitsEarly_ReportsExitCodeAndStderrTail()
    {
        string script = Script("early-exit", "echo 'vault: cannot open /dev/nothing' >&2\nexit 3");
        var e = await Assert.ThrowsAsync<VaultStartupException>(() => VaultClient.StartAsync(new VaultClientOptions { ExecutablePath = script }));
        Assert.Contains("exited with code 3", e.Message, StringComparison.Ordinal);
        Assert.Contains("vault: cannot open /dev/nothing", e.StandardErrorTail);
    }

    [Fact]
    public async Task StartAsync_NoReadyLine_TimesOutClearlyAndKillsTheChild()
    {
        string pidFile = Path.Combine(_dir, "pid");
        string script = Script("silent", $"echo $$ > '{pidFile}'\necho 'starting slowly' >&2\nexec sleep 300");
        var e = await Assert.ThrowsAsync<VaultStartupException>(() => VaultClient.StartAsync(new VaultClientOptions { ExecutablePath = script, StartupTimeout = TimeSpan.FromSeconds(2) }));
        Assert.Contains("did not connect to its link socket and prove itself (READY) within 2 s", e.Message, StringComparison.Ordinal);
        Assert.Contains("starting slowly", e.StandardErrorTail);
        int pid = int.Parse((await File.ReadAllTextAsync(pidFile)).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.NotNull(ProcessExit.Wait(pid, TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task StartAsync_AReadyLineOnStdout_IsNotTrusted_TheVaultMustProveItselfOnItsSocket()
    {
        // The old announcement, forged: anyone who could write to the child's stdout could print it.
        string script = Script("liar", "echo 'ACTORVAULT-READY 1 pid=1 guardian=akka.tcp://actorvault@127.0.0.1:9/user/vault'\nexec sleep 300");
        var e = await Assert.ThrowsAsync<VaultStartupException>(() => VaultClient.StartAsync(new VaultClientOptions { ExecutablePath = script, StartupTimeout = TimeSpan.FromSeconds(3) }));
        Assert.Contains("did not connect to its link socket and prove itself", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("127.0.0.1", e.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Script(string name, string body)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, $"#!/bin/sh\n{body}\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }
}
