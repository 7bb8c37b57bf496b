namespace ActorVault.Testing;

/// <summary>Runs test executables as user nobody (65534), with no capabilities, from a world-readable copy.</summary>
public static class OtherUser
{
    /// <summary>The <c>dotnet</c> host running these tests.</summary>
    public static string Dotnet =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host
        : Environment.ProcessPath is { } path && Path.GetFileName(path) == "dotnet" ? path
        : "dotnet";

    /// <summary>Copies this test's output folder (assemblies, apphosts, subfolders) to a new folder everyone can read; executables stay executable.</summary>
    public static string CopyForOtherUsers(string prefix)
    {
        string target = Path.Combine(Path.GetTempPath(), prefix + Guid.NewGuid().ToString("N"));
        Copy(new DirectoryInfo(AppContext.BaseDirectory), new DirectoryInfo(target));
        return target;

        static void Copy(DirectoryInfo from, DirectoryInfo to)
        {
            to.Create();
            File.SetUnixFileMode(to.FullName, (UnixFileMode)0b111_101_101);
            foreach (FileInfo file in from.EnumerateFiles())
            {
                FileInfo copy = file.CopyTo(Path.Combine(to.FullName, file.Name));
                bool executable = (file.UnixFileMode & UnixFileMode.UserExecute) != 0;
                File.SetUnixFileMode(copy.FullName, (UnixFileMode)(executable ? 0b111_101_101 : 0b110_100_100));
            }

            foreach (DirectoryInfo sub in from.EnumerateDirectories())
            {
                Copy(sub, new DirectoryInfo(Path.Combine(to.FullName, sub.Name)));
            }
        }
    }

    /// <summary>Starts <paramref name="program"/> as nobody, with no capabilities, HOME and TMPDIR in /tmp.</summary>
    public static ChildProcess Start(string program, params string[] arguments) =>
        ChildProcess.Start(
            "/usr/bin/setpriv",
            ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--", program, .. arguments],
            new Dictionary<string, string?> { ["HOME"] = "/tmp", ["DOTNET_CLI_HOME"] = "/tmp", ["TMPDIR"] = "/tmp" });
}
