using System.Security.Cryptography;
using ActorVault.Testing;

namespace ActorVault.IntegrationTests;

/// <summary>
/// The vault child reads the password itself from the application's controlling terminal (a real
/// pseudo-terminal here), echo off, with a prompt: the password never passes through the application.
/// </summary>
public sealed class TerminalUnlockTests
{
    [Fact]
    public void Terminal_PromptEchoOff_VaultStoresExactlyWhatWasTyped()
    {
        using var pty = new PseudoTerminal();
        using ChildProcess app = pty.Start(Path.Combine(AppContext.BaseDirectory, "ActorVault.AppProbe"), ["--unlock", "tty"]);
        pty.WaitForOutput("Vault password: ");
        Assert.True(pty.WaitForEcho(false), "echo is off while the vault reads the password");

        pty.Type("correct horse\r");
        pty.WaitForLine("UNLOCKED length=13");
        Assert.DoesNotContain("correct horse", pty.Output, StringComparison.Ordinal);

        // The terminal is usable again: the application's own line input echoes what is typed.
        // (Restoring the exact modes is proven by ActorVault.Memory.Tests' terminal reader tests.)
        pty.Type("open main\r");
        pty.WaitForOutput("open main");
        string opened = pty.WaitForLine("OPENED ");
        Assert.Equal(Convert.ToHexString(SHA256.HashData("correct horse"u8)), AppProbe.Text(opened, "sha256"));
    }

    [Fact]
    public void Terminal_Confirmation_MismatchIsAClearError_NothingStored()
    {
        using var pty = new PseudoTerminal();
        using ChildProcess app = pty.Start(Path.Combine(AppContext.BaseDirectory, "ActorVault.AppProbe"), ["--unlock", "tty-confirm"]);
        pty.WaitForOutput("Vault password: ");
        pty.Type("first try\r");
        pty.WaitForOutput("Once more: ");
        pty.Type("first trx\r");

        string error = pty.WaitForLine("ERROR ");
        Assert.Contains("type=VaultOperationException", error, StringComparison.Ordinal);
        Assert.Contains("differ", error, StringComparison.Ordinal);
        pty.Type("status\r");
        Assert.Contains("secrets= ", pty.WaitForLine("STATUS ") + " ", StringComparison.Ordinal);
    }

    [Fact]
    public void Terminal_Confirmation_MatchIsStored()
    {
        using var pty = new PseudoTerminal();
        using ChildProcess app = pty.Start(Path.Combine(AppContext.BaseDirectory, "ActorVault.AppProbe"), ["--unlock", "tty-confirm"]);
        pty.WaitForOutput("Vault password: ");
        pty.Type("twice\r");
        pty.WaitForOutput("Once more: ");
        pty.Type("twice\r");
        pty.WaitForLine("UNLOCKED length=5");
    }

    [Fact]
    public void CtrlC_AtTheVaultsPrompt_BothProcessesExit130_TerminalRestored_NoOrphan()
    {
        using var pty = new PseudoTerminal();
        using ChildProcess app = pty.Start(Path.Combine(AppContext.BaseDirectory, "ActorVault.AppProbe"), ["--unlock", "tty"]);
        string ready = pty.WaitForLine("APP-READY ");
        int vaultPid = AppProbe.Field(ready, "vault");
        pty.WaitForOutput("Vault password: ");
        Assert.True(pty.WaitForEcho(false), "echo is off at the prompt");

        pty.Type("half a passw"u8);
        pty.Type([0x03]); // Ctrl-C: SIGINT to the foreground process group, the application and its vault

        Assert.Equal(130, app.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.NotNull(ProcessExit.Wait(vaultPid, TimeSpan.FromSeconds(5)));
        Assert.True(pty.WaitForEcho(true), "the terminal's echo is restored after the interrupted prompt");
    }
}
