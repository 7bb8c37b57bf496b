using ActorVault.Testing;

namespace ActorVault.IntegrationTests;

/// <summary>The vault executable on its own: bootstrap errors are clear; parent death ends it.</summary>
public sealed class VaultProcessTests
{
    private static string Host => Path.Combine(AppContext.BaseDirectory, "ActorVault.Host");

    [Fact]
    public void VaultMode_StdinClosedBeforeBootstrap_ExitsWithClearError()
    {
        using ChildProcess vault = ChildProcess.Start(Host, ["vault"]);
        vault.StandardInput.Close();
        Assert.Equal(2, vault.WaitForExit());
        Assert.Contains("no bootstrap secret", vault.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain(vault.Lines, l => l.StartsWith("ACTORVAULT-READY", StringComparison.Ordinal));
    }

    [Fact]
    public void VaultMode_TruncatedBootstrap_ExitsWithClearError()
    {
        using ChildProcess vault = ChildProcess.Start(Host, ["vault"]);
        vault.StandardInput.BaseStream.Write(new byte[5]);
        vault.StandardInput.Close();
        Assert.Equal(2, vault.WaitForExit());
        Assert.Contains("after 5 of 32", vault.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public void VaultMode_BootstrapThenEof_ZeroesAndExitsPromptly()
    {
        using ChildProcess vault = ChildProcess.Start(Host, ["vault"]);
        vault.StandardInput.BaseStream.Write(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        vault.StandardInput.BaseStream.Flush();
        vault.WaitForLine("ACTORVAULT-READY 1 pid=");
        vault.StandardInput.Close();
        Assert.Equal(0, vault.WaitForExit());
        Assert.Contains("stdin closed (parent gone)", vault.StandardError, StringComparison.Ordinal);
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
