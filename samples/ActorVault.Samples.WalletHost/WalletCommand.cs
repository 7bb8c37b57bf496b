using System.Diagnostics.CodeAnalysis;

namespace ActorVault.Samples.WalletHost;

/// <summary>What to do: create a new wallet file or unlock an existing one.</summary>
public sealed record WalletCommand(string WalletPath, bool Create)
{
    private const string Usage = "usage: walletd [--create] [--wallet PATH] (default wallet.json); the password comes from the terminal or stdin";

    /// <summary>Parses <c>[--create] [--wallet PATH]</c>.</summary>
    public static bool TryParse(string[] args, [NotNullWhen(true)] out WalletCommand? command, [NotNullWhen(false)] out string? error)
    {
        string path = "wallet.json";
        bool create = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--create":
                    create = true;
                    break;
                case "--wallet" when i + 1 < args.Length:
                    path = args[++i];
                    break;
                default:
                    (command, error) = (null, $"unknown argument '{args[i]}'; {Usage}");
                    return false;
            }
        }

        (command, error) = (new WalletCommand(Path.GetFullPath(path), create), null);
        return true;
    }
}
