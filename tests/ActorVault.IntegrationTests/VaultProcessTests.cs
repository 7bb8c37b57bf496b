using ActorVault.Testing;

namespace ActorVault.IntegrationTests;

/// <summary>The vault executable on its own (the test plays its application): bootstrap errors are clear; parent death ends it.</summary>
public sealed class VaultProcessTests
{
    private static string Host => Path.Combine(AppContext.BaseDirectory, "ActorVault.Host");

    [Fact]
    public void VaultMode_WithoutALinkSocket_ExitsWithClearError()
    {
        using ChildProcess vault = ChildProcess.Start(Host, ["vault"]);
        Assert.Equal(2, vault.WaitForExit());
        Assert.Contains("no --link socket", vault.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VaultMode_LinkClosedBeforeBootstrap_ExitsWithClearError()
    {
        using BareVault vault = BareVault.Launch();
        await vault.AcceptAsync();
        vault.CloseLink();
        Assert.Equal(2, vault.Process.WaitForExit());
        Assert.Contains("no bootstrap secret on the link socket", vault.Process.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VaultMode_TruncatedBootstrap_ExitsWithClearError()
    {
        using BareVault vault = BareVault.Launch();
        await vault.AcceptAsync();
        vault.Send(new byte[5]);
        vault.Link!.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        Assert.Equal(2, vault.Process.WaitForExit());
        Assert.Contains("after 5 of 32", vault.Process.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VaultMode_ReadyThenLinkClosed_ZeroesAndExitsPromptly()
    {
        using BareVault vault = await BareVault.StartAsync();
        vault.CloseLink();
        Assert.Equal(0, vault.Process.WaitForExit(TimeSpan.FromSeconds(5)));
        Assert.Contains("the parent closed the link socket", vault.Process.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VaultMode_ReadyThenStdinClosed_ZeroesAndExitsPromptly()
    {
        using BareVault vault = await BareVault.StartAsync();
        vault.Process.StandardInput.Close();
        Assert.Equal(0, vault.Process.WaitForExit(TimeSpan.FromSeconds(5)));
        Assert.Contains("the parent closed stdin", vault.Process.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public void VaultMode_ALinkSocketHeldByAnotherProcess_IsRefusedBeforeReadingAnything()
    {
        // A process of the same user replaced the rendezvous socket with its own: the child checks
        // SO_PEERCRED too, and an impostor's bootstrap is never read, nor a READY sent to it.
        string dir = Directory.CreateTempSubdirectory("actorvault-impostor-").FullName;
        try
        {
            string path = Path.Combine(dir, "s");
            using ChildProcess impostor = ChildProcess.Start(Path.Combine(AppContext.BaseDirectory, "ActorVault.AppProbe"), ["listen", path]);
            impostor.WaitForLine("LISTENING");
            using ChildProcess vault = ChildProcess.Start(Host, ["vault", "--link", path, "--link-name", "vimpostor", "--parent", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            Assert.Equal(2, vault.WaitForExit());
            Assert.Contains($"is held by pid {impostor.Pid}", vault.StandardError, StringComparison.Ordinal);
            Assert.Equal("GOT 0", impostor.WaitForLine("GOT"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void ParentKilled_VaultExitsWithinOneSecond()
    {
        using AppProbe app = AppProbe.Start();
        Assert.True(ProcessExit.IsRunning(app.VaultPid));

        ProcessExit.Signal(app.AppPid, ProcessExit.SigKill);
        TimeSpan? gone = ProcessExit.Wait(app.VaultPid, TimeSpan.FromSeconds(30));

        Assert.NotNull(gone);
        Assert.True(gone < TimeSpan.FromSeconds(1), $"the vault outlived its parent by {gone!.Value.TotalMilliseconds:0} ms");
    }
}
