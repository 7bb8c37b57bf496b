using System.Text.RegularExpressions;
using ActorVault.Memory.Interop;
using ActorVault.Testing;
using Xunit.Abstractions;

namespace ActorVault.Memory.Tests;

/// <summary>Guard pages, idle-slot protection, backing evidence, OpenSSL secure heap, against the real probe.</summary>
public sealed partial class ProcessEvidenceTests(ITestOutputHelper output)
{
    // A .NET process killed by SIGSEGV reports "Fatal error" and aborts: exit code 134 (128 + SIGABRT).
    private const int FaultExitCode = 134;

    [Theory]
    [InlineData("memfd")]
    [InlineData("locked")]
    public void Overrun_OneBytePastTheBuffer_FaultsOnTheGuardPage(string backing)
    {
        using ChildProcess child = Probe.Start("overrun", "--backing", backing);
        child.WaitForLine("ARMED");
        Assert.Equal(FaultExitCode, child.WaitForExit());
        Assert.DoesNotContain("SURVIVED", child.Lines);
        Assert.Contains("AccessViolationException", child.StandardError, StringComparison.Ordinal);
    }

    [RootTheory]
    [InlineData(false)] // control: the runtime writes the dump its environment asks for
    [InlineData(true)]
    public void Crash_WithADumpAskedForInTheEnvironment_LeavesADumpOnlyWithoutTheReexec(bool reexec)
    {
        string dumps = Directory.CreateTempSubdirectory("actorvault-crash-").FullName;
        try
        {
            var environment = new Dictionary<string, string?>
            {
                ["DOTNET_DbgEnableMiniDump"] = "1",
                ["DOTNET_DbgMiniDumpType"] = "1",
                ["DOTNET_DbgMiniDumpName"] = Path.Combine(dumps, "dump.%p"),
            };
            using ChildProcess child = ChildProcess.Start(Probe.Dotnet, [Probe.Dll, "overrun", "--backing", "locked", .. reexec ? (string[])["--reexec"] : []], environment);
            child.WaitForLine("ARMED");
            Assert.Equal(FaultExitCode, child.WaitForExit());
            string[] written = Directory.GetFiles(dumps);
            if (reexec)
            {
                Assert.True(written.Length == 0, $"a dump was written: {string.Join(", ", written)}");
            }
            else
            {
                Assert.True(written.Length > 0, $"the control wrote no dump; stderr: {child.StandardError}");
            }
        }
        finally
        {
            Directory.Delete(dumps, recursive: true);
        }
    }

    [Theory]
    [InlineData("memfd")]
    [InlineData("locked")]
    public void StalePointer_ToIdleSlot_FaultsWhenIdleSlotsAreProtected(string backing)
    {
        using ChildProcess child = Probe.Start("stale", "--backing", backing, "--protect", "yes");
        child.WaitForLine("ARMED");
        Assert.Equal(FaultExitCode, child.WaitForExit());
        Assert.DoesNotContain(child.Lines, l => l.StartsWith("READ", StringComparison.Ordinal));
    }

    [Fact]
    public void StalePointer_WithoutIdleProtection_ReadsOnlyZeros()
    {
        // The control for the test above: same probe, protection off, the read succeeds (and sees zeros).
        using ChildProcess child = Probe.Start("stale", "--backing", "locked", "--protect", "no");
        Assert.Equal("READ value=0", child.WaitForLine("READ"));
        Assert.Equal(0, child.WaitForExit());
    }

    [RootFact]
    public void MemfdSecret_RootCannotReadTheSlotThroughProcMem()
    {
        SecretPattern secret = SecretPattern.Create();
        using ChildProcess child = StartHolding("memfd", secret, out Dictionary<string, string> ready);
        Assert.Equal("MemfdSecret", ready["backing"]);
        ulong data = Probe.Hex(ready["data"]);
        Assert.Null(MemoryScanner.TryRead(child.Pid, data, secret.Utf8.Length));
        MemoryRegion region = MemoryScanner.Regions(child.Pid).Single(r => r.Contains(data));
        output.WriteLine($"slot region: {region}");
        Assert.Contains("secretmem", region.Path, StringComparison.Ordinal);
    }

    [RootFact]
    public void LockedBacking_SmapsShowsTheSlotLockedNotDumpableWipedOnFork()
    {
        SecretPattern secret = SecretPattern.Create();
        using ChildProcess child = StartHolding("locked", secret, out Dictionary<string, string> ready);
        ulong data = Probe.Hex(ready["data"]);

        // Control: the fallback backing is readable by root, so the memfd test above is meaningful.
        Assert.Equal(secret.Utf8, MemoryScanner.TryRead(child.Pid, data, secret.Utf8.Length));

        (string header, Dictionary<string, string> fields) = SmapsEntry(child.Pid, data);
        output.WriteLine(header + "\n" + string.Join("\n", fields.Select(f => $"{f.Key}: {f.Value}")));
        int lockedKb = int.Parse(KbRegex().Match(fields["Locked"]).Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(lockedKb > 0, "Locked: should be > 0 kB");
        string[] flags = fields["VmFlags"].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("lo", flags); // VM_LOCKED
        Assert.Contains("dd", flags); // VM_DONTDUMP
        Assert.Contains("wf", flags); // VM_WIPEONFORK
    }

    [Fact]
    public void SecureHeap_StatusBeforeInit_DoesNotCrash_AndRsaKeyUsesIt()
    {
        using ChildProcess child = Probe.Start("secureheap");
        Assert.Equal("BEFORE initialized=False used=0", child.WaitForLine("BEFORE"));
        Assert.Equal("INIT initialized=True size=32768 used=0", child.WaitForLine("INIT"));
        Dictionary<string, string> after = Probe.Fields(child.WaitForLine("AFTER"));
        output.WriteLine($"secure heap used after RSA-2048: {after["used"]} bytes");
        Assert.True(int.Parse(after["used"], System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.Equal(0, child.WaitForExit());
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(0)]
    [InlineData(-16)]
    public void SecureHeap_SizeNotPowerOfTwo_IsRefused(int size)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => OpenSslSecureHeap.Initialize(size));
    }

    [Fact]
    public void SecureHeap_MinimumLargerThanHeap_IsRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => OpenSslSecureHeap.Initialize(4096, 8192));
    }

    private static ChildProcess StartHolding(string backing, SecretPattern secret, out Dictionary<string, string> ready)
    {
        ChildProcess child = Probe.Start("hold", "--backing", backing, "--source", "pipe-line");
        child.StandardInput.Write(secret.Text + "\n");
        child.StandardInput.Flush();
        ready = Probe.Fields(child.WaitForLine("READY"));
        return child;
    }

    private static (string Header, Dictionary<string, string> Fields) SmapsEntry(int pid, ulong address)
    {
        string[] lines = File.ReadAllLines($"/proc/{pid}/smaps");
        for (int i = 0; i < lines.Length; i++)
        {
            Match range = RangeRegex().Match(lines[i]);
            if (!range.Success)
            {
                continue;
            }

            ulong start = Probe.Hex(range.Groups[1].Value);
            ulong end = Probe.Hex(range.Groups[2].Value);
            if (address < start || address >= end)
            {
                continue;
            }

            var fields = new Dictionary<string, string>();
            for (int j = i + 1; j < lines.Length && !RangeRegex().IsMatch(lines[j]); j++)
            {
                string[] kv = lines[j].Split(':', 2);
                fields[kv[0]] = kv[1].Trim();
            }

            return (lines[i], fields);
        }

        throw new InvalidOperationException($"No smaps entry holds {address:x}.");
    }

    [GeneratedRegex("^([0-9a-f]+)-([0-9a-f]+) ")]
    private static partial Regex RangeRegex();

    [GeneratedRegex("[0-9]+")]
    private static partial Regex KbRegex();
}
