using ActorVault.Testing;

namespace ActorVault.IntegrationTests;

/// <summary>The main job, `actorvault demo`, run as README says, non-interactively.</summary>
public sealed class DemoTests
{
    private static string Host => Path.Combine(AppContext.BaseDirectory, "ActorVault.Host");

    [Fact]
    public void Demo_PasswordOnStdin_ReportsAndZeroesEverything_Exit0()
    {
        using ChildProcess demo = ChildProcess.Start(Host, ["demo"]);
        demo.StandardInput.Write("demo password\n");
        demo.StandardInput.Close();

        Assert.Equal(0, demo.WaitForExit());
        string output = string.Join('\n', demo.Lines);
        Assert.Contains("stored                 13 bytes", output, StringComparison.Ordinal);
        Assert.Contains("AES-256-GCM sealed and opened 36 bytes: match; derived key zeroed: True", output, StringComparison.Ordinal);
        Assert.Contains("refused: A SecretLease gives access to secret bytes", output, StringComparison.Ordinal);
        Assert.Contains("lease median / p99", output, StringComparison.Ordinal);
        Assert.Contains("0 live: every lease buffer and both session keys zeroed", output, StringComparison.Ordinal);
        Assert.DoesNotContain("demo password", output + demo.StandardError, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("\n", "empty")]
    public void Demo_EmptyInput_IsAClearErrorAndExit1(string input, string expected)
    {
        using ChildProcess demo = ChildProcess.Start(Host, ["demo"]);
        demo.StandardInput.Write(input);
        demo.StandardInput.Close();

        Assert.Equal(1, demo.WaitForExit());
        Assert.Contains(expected, demo.StandardError, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Demo_OversizedInput_IsAClearErrorAndExit1()
    {
        using ChildProcess demo = ChildProcess.Start(Host, ["demo"]);
        demo.StandardInput.Write(new string('x', 5000));
        demo.StandardInput.Close();

        Assert.Equal(1, demo.WaitForExit());
        Assert.Contains("longer than the maximum", demo.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public void Demo_WithStdinClosed_IsAClearErrorAndExit1_NotAHang()
    {
        // `demo <&-`: the runtime takes descriptor 0 for a pipe of its own; reading it would hang.
        using ChildProcess demo = ChildProcess.Start("/bin/sh", ["-c", "exec \"$0\" demo <&-", Host]);
        Assert.Equal(1, demo.WaitForExit());
        Assert.Contains("Standard input is closed", demo.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public void Demo_PrintsNoHardeningWarning_ItsDiagnosticPortIsClosedByTheReexec()
    {
        using ChildProcess demo = ChildProcess.Start(Host, ["demo"], new Dictionary<string, string?> { ["DOTNET_EnableDiagnostics"] = null });
        demo.StandardInput.Write("demo password\n");
        demo.StandardInput.Close();
        Assert.Equal(0, demo.WaitForExit());
        Assert.DoesNotContain("diagnostic port", demo.StandardError, StringComparison.Ordinal);
        Assert.Contains(demo.Lines, l => l.Contains("dumpable               no", StringComparison.Ordinal));
    }
}
