using System.Globalization;
using ActorVault.Testing;

namespace ActorVault.IntegrationTests;

/// <summary>
/// A real application and its real vault run as user nobody; another process of nobody (no
/// capabilities) attacks both: /proc/PID/mem, /proc/PID/fd, /proc/PID/environ, ptrace. The control is
/// a process of the same user that is not hardened, where every attack gets through.
/// </summary>
public sealed class SameUserHardeningTests : IDisposable
{
    private readonly string _copy = MemoryScanner.CanScan ? OtherUser.CopyForOtherUsers("actorvault-nobody-") : string.Empty;

    public void Dispose()
    {
        if (_copy.Length > 0)
        {
            Directory.Delete(_copy, recursive: true);
        }
    }

    [RootFact]
    public void AnotherProcessOfTheSameUser_CannotReadPtraceOrOpenTheDescriptorsOf_TheApplicationNorItsVault()
    {
        using ChildProcess app = AsNobody(Dotnet, Path.Combine(_copy, "ActorVault.AppProbe.dll"), "--unlock", "stdin");
        string ready = app.WaitForLine("APP-READY");
        app.StandardInput.Write("same user secret\n");
        app.StandardInput.Flush();
        app.WaitForLine("UNLOCKED");
        int appPid = AppProbe.Field(ready, "pid");
        int vaultPid = AppProbe.Field(ready, "vault");
        Assert.Equal("65534", Uid(appPid));
        Assert.Equal("65534", Uid(vaultPid));

        foreach ((string who, int pid) in (ValueTuple<string, int>[])[("application", appPid), ("vault", vaultPid)])
        {
            string[] result = Attack(pid);
            foreach (string probe in (string[])["MEM", "FDLIST", "FD0", "ENVIRON", "PTRACE"])
            {
                Assert.Contains(result, l => l.StartsWith($"{probe}=denied", StringComparison.Ordinal));
            }

            Assert.True(result.Length == 5, $"{who}: {string.Join(" | ", result)}");
        }
    }

    [RootFact]
    public void AnotherProcessOfTheSameUser_CannotReadPtraceOrOpenTheDescriptorsOf_ServeItsVaultNorAnExecCommand()
    {
        string home = Path.Combine(Path.GetTempPath(), "actorvault-nobody-home-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(home);
        File.SetUnixFileMode(home, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Chown(home);
        string socket = Path.Combine(home, "agent.sock");
        string host = Path.Combine(_copy, "ActorVault.Host.dll");
        try
        {
            using ChildProcess serve = AsNobody(Dotnet, host, "serve", "--password-stdin", "--socket", socket);
            serve.StandardInput.Write("same user host secret\n");
            serve.StandardInput.Close();
            int servePid = int.Parse(serve.WaitForLine("ACTORVAULT_PID=")["ACTORVAULT_PID=".Length..].Split(';')[0], CultureInfo.InvariantCulture);
            using ChildProcess status = AsNobody(Dotnet, host, "status", "--json", "--socket", socket);
            Assert.Equal(0, status.WaitForExit());
            int vaultPid = System.Text.Json.JsonDocument.Parse(string.Join('\n', status.Lines)).RootElement.GetProperty("vaultPid").GetInt32();

            // A CLI command while it runs: exec waits for CMD, which waits for the test.
            using ChildProcess exec = AsNobody(Dotnet, host, "exec", "--socket", socket, "--", "/bin/sh", "-c", "cat >/dev/null; echo CMD-UP; exec sleep 120");
            exec.WaitForLine("CMD-UP");

            foreach ((string who, int pid) in (ValueTuple<string, int>[])[("serve", servePid), ("its vault", vaultPid), ("exec", exec.Pid)])
            {
                Assert.Equal("65534", Uid(pid));
                string[] result = Attack(pid);
                Assert.True(result.Length == 5 && result.All(l => l.Contains("=denied", StringComparison.Ordinal)), $"{who} {pid}: {string.Join(" | ", result)}");
                Assert.False(File.Exists(ProcStatus.DiagnosticSocketPath(pid)), $"{who} {pid} has a .NET diagnostic socket");
            }

            ProcessExit.Signal(exec.Pid, 15); // exec forwards it to CMD: neither is left behind
            Assert.NotNull(ProcessExit.Wait(exec.Pid, TimeSpan.FromSeconds(60)));
            ProcessExit.Signal(servePid, 15);
            Assert.NotNull(ProcessExit.Wait(servePid, TimeSpan.FromSeconds(60)));
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }

    private static string Field(string line, string name) =>
        line.Split(' ').First(t => t.StartsWith(name + "=", StringComparison.Ordinal))[(name.Length + 1)..];

    private static void Chown(string path)
    {
        using var chown = System.Diagnostics.Process.Start("chown", ["65534:65534", path]);
        chown.WaitForExit();
        Assert.Equal(0, chown.ExitCode);
    }

    [RootFact]
    public void AnotherProcessOfTheSameUser_GetsEverythingFromAProcessThatIsNotHardened_ControlForTheTestAbove()
    {
        using ChildProcess sleeper = AsNobody("/bin/sh", "-c", "exec /bin/sleep 300 </dev/null");
        string[] result = Attack(sleeper.Pid);
        Assert.Contains("MEM=opened", result);
        Assert.Contains("FDLIST=listed", result);
        Assert.Contains("FD0=opened", result);
        Assert.Contains("ENVIRON=read", result);
        Assert.Contains("PTRACE=attached", result);
        ProcessExit.Signal(sleeper.Pid, ProcessExit.SigKill);
    }

    private string[] Attack(int pid)
    {
        using ChildProcess attacker = AsNobody(Dotnet, Path.Combine(_copy, "ActorVault.AppProbe.dll"), "attack", pid.ToString(CultureInfo.InvariantCulture));
        Assert.Equal(0, attacker.WaitForExit());
        return [.. attacker.Lines];
    }

    private static string Uid(int pid) =>
        File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1];

    private static string Dotnet => OtherUser.Dotnet;

    private static ChildProcess AsNobody(string program, params string[] arguments) => OtherUser.Start(program, arguments);
}
