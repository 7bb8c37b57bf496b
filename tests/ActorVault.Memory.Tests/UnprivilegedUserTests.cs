using ActorVault.Testing;
using Xunit.Abstractions;

namespace ActorVault.Memory.Tests;

/// <summary>
/// Runs the probe as user nobody (setpriv, no capabilities): hardening against a same-user attacker,
/// and the RLIMIT_MEMLOCK policy, which root (CAP_IPC_LOCK) would bypass.
/// </summary>
public sealed class UnprivilegedUserTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _copy = MemoryScanner.CanScan ? Probe.CopyForOtherUsers() : string.Empty;

    public void Dispose()
    {
        if (_copy.Length > 0)
        {
            Directory.Delete(_copy, recursive: true);
        }
    }

    [RootFact]
    public void Hardened_SameUserAttacker_CannotReadMemoryNorPtrace()
    {
        (string target, string mem, string ptrace, int exit) = Attack("yes");
        Assert.Contains("dumpable=False uid=65534", target, StringComparison.Ordinal);
        Assert.StartsWith("MEM=denied", mem, StringComparison.Ordinal);
        Assert.StartsWith("PTRACE=denied", ptrace, StringComparison.Ordinal);
        Assert.Equal(0, exit);
    }

    [RootFact]
    public void NotHardened_SameUserAttacker_CanReadMemory_ControlForTheTestAbove()
    {
        (string target, string mem, string ptrace, _) = Attack("no");
        Assert.Contains("dumpable=True uid=65534", target, StringComparison.Ordinal);
        Assert.Equal("MEM=read", mem);
        Assert.Equal("PTRACE=attached", ptrace);
    }

    /// <summary>As nobody: start a (hardened or not) target of the same user, then try /proc/PID/mem and ptrace on it.</summary>
    private (string Target, string Mem, string Ptrace, int Exit) Attack(string harden)
    {
        using ChildProcess attacker = Probe.StartAsNobody(_copy, "", "attack", "--harden", harden);
        string target = attacker.WaitForLine("TARGET");
        string mem = attacker.WaitForLine("MEM=");
        string ptrace = attacker.WaitForLine("PTRACE=");
        output.WriteLine($"{target}\n{mem}\n{ptrace}");
        return (target, mem, ptrace, attacker.WaitForExit());
    }

    [RootTheory]
    [InlineData("locked")]
    [InlineData("memfd")]
    [InlineData("auto")]
    public void MemlockLimitZero_DefaultPolicy_FailsNamingTheLimitAndTheFix(string backing)
    {
        using ChildProcess child = Probe.StartAsNobody(_copy, "ulimit -l 0;", "hold", "--backing", backing, "--source", "pipe-line");
        child.StandardInput.Write("not-a-real-secret\n");
        child.StandardInput.Flush();
        string crash = child.WaitForLine("CRASH");
        output.WriteLine(crash);
        Assert.Contains("SecretMemoryException", crash, StringComparison.Ordinal);
        Assert.Contains("RLIMIT_MEMLOCK is 0 bytes", crash, StringComparison.Ordinal);
        Assert.Contains("ulimit -l", crash, StringComparison.Ordinal);
        Assert.Contains("AllowUnlockedMemory", crash, StringComparison.Ordinal);
        Assert.Equal(70, child.WaitForExit());
    }

    [RootTheory]
    [InlineData("locked")]
    [InlineData("auto")] // memfd_secret is refused by the same limit, then the fallback continues unlocked
    public void MemlockLimitZero_AllowUnlocked_ContinuesWithAWarning(string backing)
    {
        using ChildProcess child = Probe.StartAsNobody(_copy, "ulimit -l 0;", "hold", "--backing", backing, "--allow-unlocked", "yes", "--source", "pipe-line");
        child.StandardInput.Write("not-a-real-secret\n");
        child.StandardInput.Flush();
        string ready = child.WaitForLine("READY");
        Assert.Contains("backing=LockedAnonymous locked=False", ready, StringComparison.Ordinal);
        string warning = child.WaitForError("secret memory is NOT locked");
        Assert.Contains("RLIMIT_MEMLOCK is 0 bytes", warning, StringComparison.Ordinal);
    }
}
