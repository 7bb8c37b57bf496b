using ActorVault.Memory.Readers;

namespace ActorVault.Host;

/// <summary>Entry point of <c>actorvault</c>.</summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        string command = args.Length > 0 ? args[0] : "--help";
        try
        {
            return command switch
            {
                "demo" => await DemoCommand.RunAsync(args[1..]),
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
        catch (Exception e) when (e is VaultStartupException or VaultUnavailableException or VaultOperationException or ArgumentException)
        {
            Console.Error.WriteLine($"actorvault: {e.Message}");
            return e is ArgumentException ? 2 : 1;
        }
    }

    private static int Help()
    {
        Console.WriteLine("""
            actorvault — keeps a password where memory dumps, swap, logs and other processes cannot reach it.

            Usage:
              actorvault demo [--backing auto|memfd|locked]
                  Starts the vault child process, reads a password (the vault reads the terminal with
                  echo off; or this process reads stdin when it is not a terminal), unlocks a demo
                  wallet inside a lease, and reports what protects the password.
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
