using System.Text;
using ActorVault.Memory.Interop;
using ActorVault.Testing;
using Xunit.Abstractions;

namespace ActorVault.Memory.Tests;

/// <summary>The terminal reader in a real process on a real pseudo-terminal, typed at like a person would.</summary>
public sealed class TerminalReaderTests(ITestOutputHelper output) : IDisposable
{
    private readonly PseudoTerminal _terminal = new();

    public void Dispose() => _terminal.Dispose();

    [Fact]
    public void Read_EchoOffWhilePrompting_RestoredAfterEnter_NothingEchoed()
    {
        SecretPattern secret = SecretPattern.Create();
        using ChildProcess child = StartReading(out _);
        Assert.True(_terminal.WaitForEcho(false), "echo should be off at the prompt");
        _terminal.Type(secret.Text + "\r");
        Dictionary<string, string> ready = Probe.Fields(_terminal.WaitForLine("READY "));
        Assert.Equal(Probe.Sha256Hex(secret.Utf8), ready["sha256"]);
        Assert.True(_terminal.EchoEnabled(), "echo should be back on after Enter");
        Assert.DoesNotContain(secret.Text, _terminal.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(secret.Text[..8], _terminal.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_BackspaceKillLineAndUtf8Erase_GiveTheEditedBytes()
    {
        using ChildProcess child = StartReading(out _);
        // "wrong", Ctrl-U (kill line), "pa", "ß" then DEL (erases both UTF-8 bytes), "ss", "x" then BS.
        byte[] keys = [.. "wrong"u8, 0x15, .. "pa"u8, .. "ß"u8, 0x7F, .. "ss"u8, (byte)'x', 0x08, (byte)'\r'];
        _terminal.Type(keys);
        Dictionary<string, string> ready = Probe.Fields(_terminal.WaitForLine("READY "));
        Assert.Equal(Probe.Sha256Hex("pass"u8.ToArray()), ready["sha256"]);
        Assert.Equal("4", ready["length"]);
    }

    [Fact]
    public void Read_CtrlDOnEmptyLine_IsEmptyError()
    {
        using ChildProcess child = StartReading(out _);
        _terminal.Type([0x04]);
        Assert.Contains("error=Empty live=0", _terminal.WaitForLine("FAILED "), StringComparison.Ordinal);
        Assert.True(_terminal.EchoEnabled());
    }

    [Theory]
    [InlineData(Libc.SIGINT, 130)]
    [InlineData(Libc.SIGTERM, 143)]
    [InlineData(Libc.SIGHUP, 129)]
    [InlineData(Libc.SIGQUIT, 131)]
    public void Read_InterruptedBySignal_RestoresTerminalModes(int signal, int expectedExit)
    {
        using ChildProcess child = StartReading(out int pid);
        _terminal.Type("half-typ");
        Assert.True(_terminal.WaitForEcho(false));
        Probe.Signal(pid, signal);
        int exit = child.WaitForExit();
        output.WriteLine($"signal {signal}: exit {exit}; terminal showed: {_terminal.Output}");
        Assert.True(_terminal.EchoEnabled(), "the terminal must be restored when a signal ends the prompt");
        Assert.Equal(expectedExit, exit);
        Assert.DoesNotContain("READY", _terminal.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_CtrlCTypedAtTheTerminal_RestoresModes()
    {
        using ChildProcess child = StartReading(out _);
        _terminal.Type("abc");
        Assert.True(_terminal.WaitForEcho(false));
        _terminal.Type([0x03]); // the line discipline turns it into SIGINT
        Assert.Equal(130, child.WaitForExit());
        Assert.True(_terminal.EchoEnabled());
    }

    [Fact]
    public void Read_KilledWithSigkill_LeavesEchoOff_ControlForTheRestoreTests()
    {
        // No handler runs on SIGKILL: this shows the restore checks above can see a terminal left broken.
        using ChildProcess child = StartReading(out int pid);
        Assert.True(_terminal.WaitForEcho(false));
        Probe.Signal(pid, Libc.SIGKILL);
        child.WaitForExit();
        Assert.False(_terminal.EchoEnabled());
    }

    [Fact]
    public void Read_SigtstpRestores_SigcontReappliesNoEcho_ThenReadCompletes()
    {
        SecretPattern secret = SecretPattern.Create();
        using ChildProcess child = StartReading(out int pid);
        Assert.True(_terminal.WaitForEcho(false));
        Probe.Signal(pid, Libc.SIGTSTP);
        Assert.True(_terminal.WaitForEcho(true), "SIGTSTP should hand the terminal back with echo on");
        Probe.Signal(pid, Libc.SIGCONT);
        Assert.True(_terminal.WaitForEcho(false), "SIGCONT should turn echo off again");
        _terminal.Type(secret.Text + "\r");
        Assert.Equal(Probe.Sha256Hex(secret.Utf8), Probe.Fields(_terminal.WaitForLine("READY "))["sha256"]);
        Assert.DoesNotContain(secret.Text, _terminal.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_NoControllingTerminal_IsNoTerminalError()
    {
        // setsid without --ctty: a new session that has no controlling terminal.
        using ChildProcess child = ChildProcess.Start("/usr/bin/setsid", [Probe.Dotnet, Probe.Dll, "hold", "--source", "tty"]);
        string failed = child.WaitForLine("FAILED");
        Assert.Contains("error=NoTerminal live=0", failed, StringComparison.Ordinal);
        Assert.Contains("No terminal to prompt on", failed, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_StdinReaderOnATerminal_IsWrongSource()
    {
        using ChildProcess child = Probe.StartOnTerminal(_terminal, "hold", "--source", "pipe");
        Assert.Contains("error=WrongSource", _terminal.WaitForLine("FAILED "), StringComparison.Ordinal);
    }

    private ChildProcess StartReading(out int pid)
    {
        ChildProcess child = Probe.StartOnTerminal(_terminal, "hold", "--source", "tty", "--backing", "locked");
        pid = int.Parse(Probe.Fields(_terminal.WaitForLine("STARTED "))["pid"], System.Globalization.CultureInfo.InvariantCulture);
        _terminal.WaitForOutput("Secret: ");
        return child;
    }
}
