using ActorVault.Memory.Readers;

namespace ActorVault.Host;

/// <summary>Entry point of <c>actorvault</c>.</summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        string command = args.Length > 0 ? args[0] : "--help";
        try
        {
            return command switch
            {
                "demo" => DemoCommand.Run(args.AsSpan(1)),
                "vault" => ActorVault.Vault.VaultHost.Run(args[1..]),
                "--help" or "-h" or "help" => Help(),
                _ => Unknown(command),
            };
        }
        catch (SecretInputException e)
        {
            Console.Error.WriteLine($"actorvault: {e.Message}");
            return 1;
        }
    }

    private static int Help()
    {
        Console.WriteLine("""
            actorvault — keeps a password where memory dumps, swap, logs and other processes cannot reach it.

            Usage:
              actorvault demo [--backing auto|memfd|locked]
                  Reads a password (from the terminal with echo off, or from stdin when stdin is not a
                  terminal) straight into locked secret memory and reports what protects it.
              actorvault vault [--rsa-bits N] [--secure-heap BYTES]
                  The vault child process. Started by the application (VaultClient), which writes a
                  bootstrap secret to its stdin; not meant to be run by hand.
              actorvault --help
            """);
        return 0;
    }

    private static int Unknown(string command)
    {
        Console.Error.WriteLine($"actorvault: unknown command '{command}'. Run 'actorvault --help'.");
        return 2;
    }
}
