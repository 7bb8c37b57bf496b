using System.Reflection;
using System.Runtime.CompilerServices;
using ActorVault.Hosting;
using ActorVault.Memory;
using ActorVault.TestKit;
using PublicApiGenerator;

namespace ActorVault.ApiTests;

/// <summary>
/// Pins the public API of every shipped package. A change fails here until approved: the generated
/// API is written to approved/&lt;Assembly&gt;.received.txt; review the diff, then run the tests with
/// ACTORVAULT_APPROVE_API=1 (or copy received over approved) and commit the approved file.
/// </summary>
public sealed class PublicApiTests
{
    private const string ApproveVariable = "ACTORVAULT_APPROVE_API";

    [Fact]
    public void PublicApi_ActorVaultMemory_MatchesApproved() => Verify(typeof(SecretBuffer).Assembly);

    [Fact]
    public void PublicApi_ActorVault_MatchesApproved() => Verify(typeof(VaultClient).Assembly);

    [Fact]
    public void PublicApi_ActorVaultHosting_MatchesApproved() => Verify(typeof(ActorVaultHostingExtensions).Assembly);

    [Fact]
    public void PublicApi_ActorVaultTestKit_MatchesApproved() => Verify(typeof(TestVault).Assembly);

    private static void Verify(Assembly assembly, [CallerFilePath] string sourceFile = "")
    {
        string name = assembly.GetName().Name!;
        string api = Normalize(assembly.GeneratePublicApi(new ApiGeneratorOptions { IncludeAssemblyAttributes = false }));

        string sourceDir = Path.Combine(Path.GetDirectoryName(sourceFile)!, "approved");
        string dir = Directory.Exists(sourceDir) ? sourceDir : Path.Combine(AppContext.BaseDirectory, "approved");
        string approvedPath = Path.Combine(dir, $"{name}.approved.txt");
        string receivedPath = Path.Combine(dir, $"{name}.received.txt");

        if (Environment.GetEnvironmentVariable(ApproveVariable) == "1")
        {
            Directory.CreateDirectory(dir);
            File.WriteAllText(approvedPath, api);
            File.Delete(receivedPath);
            return;
        }

        string approved = File.Exists(approvedPath) ? Normalize(File.ReadAllText(approvedPath)) : "";
        if (approved == api)
        {
            File.Delete(receivedPath);
            return;
        }

        File.WriteAllText(receivedPath, api);
        Assert.Fail(
            $"The public API of {name} changed (or has no approved file).\n" +
            $"  received: {receivedPath}\n  approved: {approvedPath}\n" +
            $"Review the difference (diff -u approved received); if it is intended, approve it with\n" +
            $"  {ApproveVariable}=1 dotnet test tests/ActorVault.ApiTests -c Release\n" +
            "(or copy the received file over the approved one) and commit the approved file.\n" +
            FirstDifference(approved, api));
    }

    private static string Normalize(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd() + "\n";

    private static string FirstDifference(string approved, string received)
    {
        string[] a = approved.Split('\n');
        string[] r = received.Split('\n');
        for (int i = 0; i < Math.Max(a.Length, r.Length); i++)
        {
            string left = i < a.Length ? a[i] : "<end>";
            string right = i < r.Length ? r[i] : "<end>";
            if (left != right)
            {
                return $"First difference at line {i + 1}:\n  approved: {left}\n  received: {right}";
            }
        }

        return "";
    }
}
