using System.Globalization;
using ActorVault.Testing;

namespace ActorVault.IntegrationTests;

/// <summary>Drives tests/ActorVault.AppProbe: a real application process that owns a real vault child.</summary>
internal sealed class AppProbe : IDisposable
{
    private AppProbe(ChildProcess process)
    {
        Process = process;
        string ready = process.WaitForLine("APP-READY ");
        AppPid = Field(ready, "pid");
        VaultPid = Field(ready, "vault");
    }

    public ChildProcess Process { get; }

    public int AppPid { get; }

    public int VaultPid { get; }

    public static AppProbe Attach(ChildProcess process) => new(process);

    public static AppProbe Start(params string[] arguments)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "ActorVault.AppProbe");
        return new AppProbe(ChildProcess.Start(path, arguments));
    }

    public static int Field(string line, string name)
    {
        string token = line.Split(' ').First(t => t.StartsWith(name + "=", StringComparison.Ordinal));
        return int.Parse(token[(name.Length + 1)..], CultureInfo.InvariantCulture);
    }

    public static string Text(string line, string name) =>
        line.Split(' ').First(t => t.StartsWith(name + "=", StringComparison.Ordinal))[(name.Length + 1)..];

    /// <summary>Hands the probe (started with <c>--unlock stdin</c>) its secret line and waits until the vault holds it.</summary>
    public string Unlock(ReadOnlySpan<byte> secret)
    {
        Process.StandardInput.BaseStream.Write(secret);
        Process.StandardInput.BaseStream.Write("\n"u8);
        Process.StandardInput.BaseStream.Flush();
        return Process.WaitForLine("UNLOCKED ");
    }

    /// <summary>Sends a command and waits for its answer line (an ERROR line instead fails the wait).</summary>
    public string Command(string command, string expect)
    {
        int before = Process.CountLines(expect);
        int errors = Process.CountLines("ERROR ");
        Process.StandardInput.WriteLine(command);
        Process.StandardInput.Flush();
        return Process.WaitForNthLine(expect, before, failPrefix: "ERROR ", failSeen: errors);
    }

    public void Dispose() => Process.Dispose();
}
