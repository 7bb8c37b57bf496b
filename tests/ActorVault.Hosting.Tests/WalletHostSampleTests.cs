using System.Diagnostics;
using System.Reflection;

namespace ActorVault.Hosting.Tests;

/// <summary>The wallet sample (samples/ActorVault.Samples.WalletHost) as a real process, the password piped on stdin.</summary>
public sealed class WalletHostSampleTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);
    private readonly string _dir = Directory.CreateTempSubdirectory("actorvault-wallet-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task WalletHost_CreateThenOpen_ExitZero_SameAddress_WrongPassword_OneLineError()
    {
        string wallet = Path.Combine(_dir, "wallet.json");

        (int created, string createdOut, string createdErr) = await RunAsync("correct horse battery staple\n", "--create", "--wallet", wallet);
        Assert.True(created == 0, $"--create exited {created}: {createdErr}");
        Assert.True(File.Exists(wallet));
        string address = Assert.Single(createdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("created ", StringComparison.Ordinal)).Split("address ")[1];
        Assert.DoesNotContain("correct horse", File.ReadAllText(wallet), StringComparison.Ordinal);

        (int opened, string openedOut, string openedErr) = await RunAsync("correct horse battery staple\n", "--wallet", wallet);
        Assert.True(opened == 0, $"opening exited {opened}: {openedErr}");
        Assert.Contains($"unlocked {wallet}: address {address}", openedOut, StringComparison.Ordinal);

        (int wrong, string wrongOut, string wrongErr) = await RunAsync("incorrect horse\n", "--wallet", wallet);
        Assert.Equal(1, wrong);
        Assert.DoesNotContain("unlocked", wrongOut, StringComparison.Ordinal);
        string error = Assert.Single(wrongErr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("walletd:", StringComparison.Ordinal));
        Assert.Contains("wrong password", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WalletHost_OpenMissingOrCreateExisting_ExitTwo()
    {
        string wallet = Path.Combine(_dir, "missing.json");
        (int missing, _, string missingErr) = await RunAsync("pw\n", "--wallet", wallet);
        Assert.Equal(2, missing);
        Assert.Contains("--create", missingErr, StringComparison.Ordinal);

        await File.WriteAllTextAsync(wallet, "{}", TestContext.Current.CancellationToken);
        (int existing, _, string existingErr) = await RunAsync("pw\n", "--create", "--wallet", wallet);
        Assert.Equal(2, existing);
        Assert.Contains("already exists", existingErr, StringComparison.Ordinal);
        Assert.Equal("{}", await File.ReadAllTextAsync(wallet, TestContext.Current.CancellationToken));
    }

    private static async Task<(int ExitCode, string Out, string Err)> RunAsync(string stdin, params string[] args)
    {
        string dll = typeof(WalletHostSampleTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "WalletHostSample").Value!;
        string apphost = Path.ChangeExtension(dll, null);
        Assert.True(File.Exists(apphost), $"the sample is not built: {apphost}");
        var start = new ProcessStartInfo(apphost)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        Task<string> error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.StandardInput.WriteAsync(stdin);
        process.StandardInput.Close();
        try
        {
            await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(Patience, TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await output, await error);
    }
}
