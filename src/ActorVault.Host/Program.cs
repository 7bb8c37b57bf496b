using System.CommandLine;
using System.CommandLine.Parsing;
using System.Runtime.CompilerServices;
using ActorVault.Memory.Readers;
using ActorVault.Standalone;

namespace ActorVault.Host;

/// <summary>Entry point of <c>actorvault</c>.</summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        // Every actorvault process — the vault, serve, each CLI command — runs hardened: no .NET
        // diagnostic port (only the environment before the runtime starts can close it, so re-exec
        // once), not dumpable, no core files; before anything secret exists.
        // The native (NativeAOT) executable has no diagnostic server and no JIT to steer: nothing to
        // close, and no re-exec to pay for on every CLI call.
        if (RuntimeFeature.IsDynamicCodeSupported && ActorVault.Memory.ProcessHardening.ReexecWithoutDiagnostics(args) is { } failed)
        {
            Console.Error.WriteLine($"actorvault: warning: could not close the .NET diagnostic port ({failed}); a process of the same user could dump this one.");
        }

        foreach (string problem in ActorVault.Memory.ProcessHardening.Apply().Problems)
        {
            Console.Error.WriteLine($"actorvault: warning: hardening: {problem}");
        }

        // The vault child parses its own few arguments: it starts lean, without the command-line library
        // (which the JIT would load for this very method if the commands were parsed here).
        return args.Length > 0 && args[0] == "vault"
            ? RunVault(args[1..])
            : await RunCommandAsync(args);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static int RunVault(string[] args) => ActorVault.Vault.VaultHost.Run(args);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static async Task<int> RunCommandAsync(string[] args)
    {
        RootCommand root = Cli.Build();
        ParseResult parsed = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parsed.Errors.Count > 0)
        {
            string command = parsed.CommandResult.Command == root ? string.Empty : $" {parsed.CommandResult.Command.Name}";
            // One line: an unknown word says more than "required command was not provided".
            ParseError error = parsed.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parsed.Errors[0];
            Console.Error.WriteLine($"actorvault: {error.Message.TrimEnd('.')}. Run 'actorvault{command} --help'.");
            return Cli.UsageError;
        }

        try
        {
            // The vault client and the commands handle signals themselves (zeroing first).
            return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (Cli.Describe(e) is { } message)
        {
            Console.Error.WriteLine($"actorvault: {message}");
            return e is ArgumentException ? Cli.UsageError : Cli.Failure;
        }
#pragma warning disable CA1031 // the last resort: one line and exit 1, never a stack trace
        catch (Exception e)
#pragma warning restore CA1031
        {
            Console.Error.WriteLine($"actorvault: internal error ({e.GetType().Name}): {e.Message}");
            return Cli.Failure;
        }
    }
}
