using System.Diagnostics;
using System.Text.Json.Serialization;
using ActorVault.Memory;
using ActorVault.Memory.Readers;
using ActorVault.Standalone;

namespace ActorVault.Host;

/// <summary><c>actorvault serve</c>: the standalone host.</summary>
internal static class ServeCommand
{
    public static async Task<int> RunAsync(string infoFile, string secretName, SecretInput? input, int? rsaBits, bool mutualTls, CancellationToken cancellationToken)
    {
        bool terminal = SecretReaders.IsTerminal(2);
        var clock = Stopwatch.StartNew();
        StandaloneHost host = await Progress(terminal, $"starting the vault{(rsaBits is int b ? $" (RSA-{b} key)" : string.Empty)}", () => StandaloneHost.StartAsync(new StandaloneHostOptions(infoFile, secretName) { RsaBits = rsaBits, MutualTls = mutualTls }, cancellationToken));
        try
        {
            if (input is null)
            {
                Console.Error.WriteLine($"actorvault: starting locked; set the secret with 'actorvault unlock --secret {secretName}'.");
            }
            else if (input.Kind == SecretInput.Kinds.Terminal)
            {
                // The vault child reads the terminal itself, echo off: the bytes never pass through this process.
                _ = await host.Vault.ReadSecretAsync(secretName, new SecretSource.Terminal($"Secret '{secretName}' for the actorvault host: ", input.Confirm), cancellationToken: cancellationToken);
            }
            else
            {
                SecretBuffer secret = input.Read(string.Empty);
                await Progress(terminal, "sealing the secret to the vault", () => host.Vault.SetSecretAsync(secretName, secret, cancellationToken));
            }

            string path = host.Publish();
            Console.Out.WriteLine($"ACTORVAULT-HOST-READY pid={Environment.ProcessId} vault={host.Vault.VaultPid} info={path}");
            Console.Out.Flush();
            Console.Error.WriteLine($"actorvault: host {Environment.ProcessId} serving '{secretName}' ({host.Vault.State.ToString().ToLowerInvariant()}) after {clock.ElapsedMilliseconds} ms; info file {path}. Stop with 'actorvault stop' or Ctrl-C.");
        }
        catch
        {
            await host.Vault.StopAsync();
            throw;
        }

        return await host.Stopped;
    }

    /// <summary>A long step shows progress on a terminal (a dot a second); elsewhere it is silent.</summary>
    private static async Task<T> Progress<T>(bool terminal, string what, Func<Task<T>> step)
    {
        if (!terminal)
        {
            return await step();
        }

        Console.Error.Write($"actorvault: {what}");
        var clock = Stopwatch.StartNew();
        Task<T> task = step();
        while (await Task.WhenAny(task, Task.Delay(1000)) != task)
        {
            Console.Error.Write('.');
        }

        Console.Error.WriteLine(task.IsCompletedSuccessfully ? $" done ({clock.ElapsedMilliseconds} ms)" : " failed");
        return await task;
    }

    private static Task Progress(bool terminal, string what, Func<Task> step) =>
        Progress(terminal, what, async () =>
        {
            await step();
            return true;
        });
}

internal sealed record SecretStateJson(string Name, string State);

internal sealed record HostStatusJson(
    int HostPid,
    int VaultPid,
    string State,
    long UptimeMs,
    int Restarts,
    SecretStateJson[] Secrets,
    int LiveLeases,
    long LeasesGranted,
    int Sessions,
    string Backing,
    long LockedBytes,
    int LiveBuffers,
    bool Hardened,
    bool HostHardened,
    long SecureHeapUsedBytes,
    long SecureHeapSizeBytes,
    int KeyBits);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(HostStatusJson))]
internal sealed partial class HostJson : JsonSerializerContext;
