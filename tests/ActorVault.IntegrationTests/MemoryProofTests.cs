using System.Security.Cryptography;
using ActorVault.Testing;

namespace ActorVault.IntegrationTests;

/// <summary>
/// Secrecy by looking: a unique random secret goes into a real application process (AppProbe) through
/// a pipe, is sealed to the real vault child, and both processes' memory is then read through
/// /proc/PID/mem and searched for it (UTF-8, UTF-16LE, base64 at three alignments).
/// </summary>
public sealed class MemoryProofTests
{
    [RootFact]
    public void UnlockFromPipe_NoCopyInAppOrVault_NorInTheirOutput()
    {
        SecretPattern secret = SecretPattern.Create(40);
        using AppProbe app = AppProbe.Start("--unlock", "stdin");
        Assert.StartsWith("UNLOCKED length=40", app.Unlock(secret.Utf8), StringComparison.Ordinal);

        string status = app.Command("status", "STATUS ");
        Assert.Contains("state=Unlocked", status, StringComparison.Ordinal);
        Assert.True(AppProbe.Field(status, "heapUsed") > 0, status);
        Assert.Equal(0, AppProbe.Field(status, "appHeapUsed"));

        // The vault holds exactly these bytes: the application opens them and reports only a digest.
        string opened = app.Command("open main", "OPENED ");
        Assert.Equal(Convert.ToHexString(SHA256.HashData(secret.Utf8)), AppProbe.Text(opened, "sha256"));

        ScanResult appScan = MemoryScanner.Scan(app.AppPid, secret);
        ScanResult vaultScan = MemoryScanner.Scan(app.VaultPid, secret);
        Assert.True(appScan.BytesScanned > 10_000_000, $"app scan read only {appScan.BytesScanned} bytes");
        Assert.True(vaultScan.BytesScanned > 10_000_000, $"vault scan read only {vaultScan.BytesScanned} bytes");
        Assert.True(appScan.Total == 0, $"application process: {appScan}");
        Assert.True(vaultScan.Total == 0, $"vault process: {vaultScan}");

        string output = string.Join('\n', app.Process.Lines) + app.Process.StandardError;
        Assert.DoesNotContain(secret.Text, output, StringComparison.Ordinal);
        Assert.Contains("[vault]", app.Process.StandardError, StringComparison.Ordinal); // the vault's log was forwarded and checked
    }

    [RootFact]
    public void After200SequentialLeases_And2000With16InFlight_NoCopyOutsideLiveLeases()
    {
        SecretPattern secret = SecretPattern.Create(40);
        string expected = Convert.ToHexString(SHA256.HashData(secret.Utf8));
        using AppProbe app = AppProbe.Start("--unlock", "stdin");
        Assert.StartsWith("UNLOCKED length=40", app.Unlock(secret.Utf8), StringComparison.Ordinal);

        string sequential = app.Command("lease-seq 200", "LEASED ");
        Assert.Equal((200, 1, expected), (AppProbe.Field(sequential, "n"), AppProbe.Field(sequential, "distinct"), AppProbe.Text(sequential, "sha256")));
        Assert.Equal(0, AppProbe.Field(sequential, "live"));
        AssertNoCopies(app, secret, "after 200 sequential leases");

        string parallel = app.Command("lease-par 2000 16", "LEASED ");
        Assert.Equal((2000, 1, expected), (AppProbe.Field(parallel, "n"), AppProbe.Field(parallel, "distinct"), AppProbe.Text(parallel, "sha256")));
        Assert.Equal(0, AppProbe.Field(parallel, "live"));
        // Every lease buffer in the application was returned: only the session's two keys remain.
        Assert.Equal(2, AppProbe.Field(sequential, "buffers"));
        Assert.Equal(2, AppProbe.Field(parallel, "buffers"));
        AssertNoCopies(app, secret, "after 2,000 leases with 16 in flight");
    }

    private static void AssertNoCopies(AppProbe app, SecretPattern secret, string when)
    {
        ScanResult appScan = MemoryScanner.Scan(app.AppPid, secret);
        ScanResult vaultScan = MemoryScanner.Scan(app.VaultPid, secret);
        Assert.True(appScan.Total == 0, $"application process {when}: {appScan}");
        Assert.True(vaultScan.Total == 0, $"vault process {when}: {vaultScan}");
    }

    [RootFact]
    public void UnlockFromFile_VaultReadsIt_NoCopyInEitherProcess()
    {
        SecretPattern secret = SecretPattern.Create(36);
        string dir = Directory.CreateTempSubdirectory("actorvault-proof-").FullName;
        string file = Path.Combine(dir, "secret");
        File.WriteAllBytes(file, [.. secret.Utf8, (byte)'\n']);
        try
        {
            using AppProbe app = AppProbe.Start("--unlock", $"file:{file}");
            app.Process.WaitForLine("UNLOCKED length=36");
            string opened = app.Command("open main", "OPENED ");
            Assert.Equal(Convert.ToHexString(SHA256.HashData(secret.Utf8)), AppProbe.Text(opened, "sha256"));

            ScanResult appScan = MemoryScanner.Scan(app.AppPid, secret);
            ScanResult vaultScan = MemoryScanner.Scan(app.VaultPid, secret);
            Assert.True(appScan.Total == 0, $"application process: {appScan}");
            Assert.True(vaultScan.Total == 0, $"vault process: {vaultScan}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [RootFact]
    public void UnlockFromSystemdCredential_VaultReadsIt_NoCopyInEitherProcess()
    {
        SecretPattern secret = SecretPattern.Create(33);
        string dir = Directory.CreateTempSubdirectory("actorvault-creds-").FullName;
        File.WriteAllBytes(Path.Combine(dir, "vault-password"), secret.Utf8);
        try
        {
            string path = Path.Combine(AppContext.BaseDirectory, "ActorVault.AppProbe");
            using AppProbe app = AppProbe.Attach(ChildProcess.Start(path, ["--unlock", "cred:vault-password"], new Dictionary<string, string?> { ["CREDENTIALS_DIRECTORY"] = dir }));
            app.Process.WaitForLine("UNLOCKED length=33");
            string opened = app.Command("open main", "OPENED ");
            Assert.Equal(Convert.ToHexString(SHA256.HashData(secret.Utf8)), AppProbe.Text(opened, "sha256"));
            Assert.True(MemoryScanner.Scan(app.AppPid, secret).Total == 0);
            Assert.True(MemoryScanner.Scan(app.VaultPid, secret).Total == 0);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [RootFact]
    public void Control_AManagedStringCopyInTheApp_IsFoundByTheScan()
    {
        // Proves the scans above can fail: the same setup, plus the mistake ActorVault exists to prevent.
        SecretPattern secret = SecretPattern.Create(40);
        using AppProbe app = AppProbe.Start("--unlock", "stdin");
        app.Unlock(secret.Utf8);
        app.Command("leak main", "LEAKED");

        ScanResult appScan = MemoryScanner.Scan(app.AppPid, secret);
        Assert.True(appScan.Utf16 >= 1, $"the leaked string was not found: {appScan}");
    }
}
