using System.Globalization;
using System.Security.Cryptography;
using ActorVault.Testing;

namespace ActorVault.Memory.Tests;

/// <summary>Starts the real probe executable (tests/ActorVault.Memory.Probe) in its modes.</summary>
internal static class Probe
{
    internal static string Dotnet => OtherUser.Dotnet;

    internal static string Dll => Path.Combine(AppContext.BaseDirectory, "ActorVault.Memory.Probe.dll");

    internal static ChildProcess Start(params string[] arguments) =>
        ChildProcess.Start(Dotnet, [Dll, .. arguments]);

    internal static ChildProcess StartOnTerminal(PseudoTerminal terminal, params string[] arguments) =>
        terminal.Start(Dotnet, [Dll, .. arguments]);

    /// <summary>Parses "KEY a=1 b=2" lines.</summary>
    internal static Dictionary<string, string> Fields(string line) =>
        line.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Skip(1)
            .Select(f => f.Split('=', 2))
            .Where(f => f.Length == 2)
            .ToDictionary(f => f[0], f => f[1]);

    internal static ulong Hex(string value) => ulong.Parse(value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    internal static void Signal(int pid, int signal)
    {
        if (ActorVault.Memory.Interop.Libc.kill(pid, signal) != 0)
        {
            throw new InvalidOperationException($"kill({pid}, {signal}) failed");
        }
    }

    /// <summary>Copies the probe and its dependencies to a world-readable folder, for runs as another user.</summary>
    internal static string CopyForOtherUsers() => OtherUser.CopyForOtherUsers("actorvault-probe-");

    /// <summary>Runs the probe as user nobody (65534) with no capabilities, from a world-readable copy.</summary>
    internal static ChildProcess StartAsNobody(string copy, string shellPrefix, params string[] arguments) =>
        OtherUser.Start("/bin/sh", ["-c", shellPrefix + " exec \"$@\"", "sh", Dotnet, Path.Combine(copy, "ActorVault.Memory.Probe.dll"), .. arguments]);

    internal static string Sha256Hex(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}
