using ActorVault.Memory.Interop;
using ActorVault.Testing;
using Xunit.Abstractions;

namespace ActorVault.Memory.Tests;

/// <summary>
/// Zeroing proven by looking: plant a unique random secret, read it into a real probe process through
/// each reader, and count copies in /proc/PID/mem while held and after release.
/// </summary>
public sealed class ProcessMemoryScanTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("actorvault-scan-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string, string> Matrix()
    {
        var data = new TheoryData<string, string>();
        foreach (string backing in new[] { "memfd", "locked" })
        {
            foreach (string source in new[] { "pipe", "fd", "file", "credential", "tty" })
            {
                data.Add(backing, source);
            }
        }

        return data;
    }

    [RootTheory]
    [MemberData(nameof(Matrix))]
    public void Reader_HoldThenDispose_CopiesOnlyInSecretMemoryThenNone(string backing, string source)
    {
        SecretPattern secret = SecretPattern.Create();
        using Planted planted = Plant(secret, backing, source, release: "dispose");
        Dictionary<string, string> ready = Probe.Fields(planted.ReadyLine);
        ulong data = Probe.Hex(ready["data"]);
        Assert.Equal(Probe.Sha256Hex(secret.Utf8), ready["sha256"]);

        ScanResult held = MemoryScanner.Scan(planted.Pid, secret);
        output.WriteLine($"{backing}/{source} held: {held}");
        Assert.Equal(0, held.Utf16);
        Assert.Equal(0, held.Base64);
        if (backing == "memfd")
        {
            // memfd_secret pages are out of the kernel's direct map: even root cannot read them.
            Assert.Equal(0, held.Utf8);
            Assert.Contains(held.Unreadable, r => r.Contains(data) && r.Path.Contains("secretmem", StringComparison.Ordinal));
        }
        else
        {
            // Exactly one copy, and it is the secret buffer itself.
            Assert.Equal([data], held.Utf8Addresses);
        }

        planted.Release();
        Assert.StartsWith("DISPOSED live=0 zeroed=True", planted.WaitFor("DISPOSED"), StringComparison.Ordinal);
        ScanResult after = MemoryScanner.Scan(planted.Pid, secret);
        output.WriteLine($"{backing}/{source} after dispose + compacting GC: {after}");
        Assert.Equal(0, after.Total);
    }

    [RootFact]
    public void ZeroAll_FromSignalHandler_LeavesNoCopy()
    {
        SecretPattern secret = SecretPattern.Create();
        using Planted planted = Plant(secret, "locked", "pipe", release: "zeroall");
        Assert.Equal(1, MemoryScanner.Scan(planted.Pid, secret).Utf8);
        planted.Release();
        Assert.Equal("ZEROED count=1", planted.WaitFor("ZEROED"));
        planted.WaitFor("DISPOSED");
        ScanResult after = MemoryScanner.Scan(planted.Pid, secret);
        output.WriteLine($"after ZeroAll: {after}");
        Assert.Equal(0, after.Total);
    }

    [RootTheory]
    [InlineData("pipe")]
    [InlineData("file")]
    [InlineData("tty")]
    public void Reader_TooLong_ClearErrorAndNothingLeftBehind(string source)
    {
        SecretPattern secret = SecretPattern.Create(48);
        using Planted planted = Plant(secret, "locked", source, release: "dispose", max: 40, expect: "FAILED");
        Assert.Contains("error=TooLong live=0", planted.ReadyLine, StringComparison.Ordinal);
        ScanResult after = MemoryScanner.Scan(planted.Pid, secret);
        output.WriteLine($"too long via {source}: {after}");
        Assert.Equal(0, after.Total);
    }

    private Planted Plant(SecretPattern secret, string backing, string source, string release, int max = 4096, string expect = "READY")
    {
        string[] common = ["hold", "--backing", backing, "--release", release, "--max", max.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        PseudoTerminal? terminal = null;
        ChildProcess child;
        switch (source)
        {
            case "pipe" or "fd":
                child = Probe.Start([.. common, "--source", source == "pipe" ? "pipe-line" : "fd:0"]);
                child.StandardInput.Write(secret.Text + "\n");
                child.StandardInput.Flush();
                if (source == "fd")
                {
                    child.StandardInput.Close();
                }

                break;
            case "file":
                string path = Path.Combine(_dir, "secret.txt");
                File.WriteAllText(path, secret.Text + "\n");
                child = Probe.Start([.. common, "--source", "file:" + path]);
                break;
            case "credential":
                File.WriteAllText(Path.Combine(_dir, "vault"), secret.Text);
                child = ChildProcess.Start(Probe.Dotnet, [Probe.Dll, .. common, "--source", "credential:vault"], new Dictionary<string, string?> { ["CREDENTIALS_DIRECTORY"] = _dir });
                break;
            case "tty":
                terminal = new PseudoTerminal();
                child = Probe.StartOnTerminal(terminal, [.. common, "--source", "tty"]);
                terminal.WaitForOutput("Secret: ");
                terminal.Type(secret.Text + "\r");
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(source));
        }

        string line = terminal is null ? child.WaitForLine(expect) : terminal.WaitForLine(expect + " ");
        int pid = int.Parse(Probe.Fields(line).GetValueOrDefault("pid") ?? child.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture);
        if (terminal is not null)
        {
            Assert.DoesNotContain(secret.Text, terminal.Output, StringComparison.Ordinal);
        }

        return new Planted(child, terminal, line, pid == 0 ? child.Pid : pid);
    }

    private sealed class Planted(ChildProcess child, PseudoTerminal? terminal, string readyLine, int pid) : IDisposable
    {
        public ChildProcess Child => child;

        public string ReadyLine => readyLine;

        public int Pid => pid;

        public void Release() => Probe.Signal(pid, Libc.SIGUSR1);

        public string WaitFor(string prefix)
        {
            if (terminal is null)
            {
                return child.WaitForLine(prefix);
            }

            return terminal.WaitForLine(prefix + " ");
        }

        public void Dispose()
        {
            child.Dispose();
            terminal?.Dispose();
        }
    }
}
