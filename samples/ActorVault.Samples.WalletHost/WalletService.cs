using ActorVault.Hosting;
using ActorVault.Memory.Readers;
using Microsoft.Extensions.Hosting;

namespace ActorVault.Samples.WalletHost;

/// <summary>Reads the password into the vault, creates or unlocks the wallet inside a lease, then stops the host.</summary>
internal sealed class WalletService(ActorVaultHolder holder, WalletCommand command, IHostApplicationLifetime lifetime) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            Environment.ExitCode = await RunAsync(stoppingToken);
        }
        catch (Exception e) when (e is WrongPasswordException or SecretInputException or VaultStartupException or VaultUnavailableException or VaultOperationException or InvalidDataException or IOException or System.Text.Json.JsonException)
        {
            Console.Error.WriteLine($"walletd: {command.WalletPath}: {e.Message}");
            Environment.ExitCode = e is InvalidDataException or System.Text.Json.JsonException ? 2 : 1;
        }
        finally
        {
            lifetime.StopApplication(); // CoordinatedShutdown stops the vault with the actor system
        }
    }

    private async Task<int> RunAsync(CancellationToken cancel)
    {
        bool exists = File.Exists(command.WalletPath);
        if (command.Create == exists)
        {
            Console.Error.WriteLine(exists
                ? $"walletd: {command.WalletPath} already exists; not overwriting it"
                : $"walletd: {command.WalletPath} does not exist; run with --create to make one");
            return 2;
        }

        IVault vault = await holder.WhenStarted.WaitAsync(cancel);
        if (command.Create && SecretReaders.StandardInputIsTerminal)
        {
            // On a terminal, the vault itself asks twice (echo off); the password never enters this process until leased.
            await vault.ReadSecretAsync(VaultClient.DefaultSecretName, new SecretSource.Terminal("New wallet password: ", Confirm: true), cancellationToken: cancel);
        }
        else
        {
            await vault.ReadInPasswordAsync("Wallet password: ", cancel);
        }

        if (command.Create)
        {
            // Immediate extraction: the password is used inside the lease only; the wallet file keeps no secret in the clear.
            WalletFile wallet = await vault.WithDecryptedPasswordAsync(lease => ValueTask.FromResult(WalletFile.Create(lease.Bytes)), cancel);
            wallet.SaveNew(command.WalletPath);
            Console.WriteLine($"created {command.WalletPath}: address {wallet.Address}");
        }
        else
        {
            WalletFile wallet = WalletFile.Load(command.WalletPath);
            string address = await vault.WithDecryptedPasswordAsync(lease => ValueTask.FromResult(wallet.Unlock(lease.Bytes)), cancel);
            Console.WriteLine($"unlocked {command.WalletPath}: address {address}");
        }

        return 0;
    }
}
