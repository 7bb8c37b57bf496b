using System.Diagnostics;
using System.Text.Json.Serialization;
using ActorVault.Memory;
using ActorVault.Memory.Readers;
using ActorVault.Standalone;

namespace ActorVault.Host;

/// <summary>What <c>actorvault serve</c> was asked for.</summary>
internal sealed record ServeRequest(string? Socket, string SecretName, SecretInput? Input, int? RsaBits, bool AllowRoot, bool Verbose, string[] Command)
{
    public TimeSpan? Lifetime { get; init; }

    public TimeSpan? IdleLock { get; init; }
}

/// <summary><c>actorvault serve</c>: the standalone host.</summary>
internal static class ServeCommand
{
    public static async Task<int> RunAsync(ServeRequest request, CancellationToken cancellationToken)
    {
        bool terminal = SecretReaders.IsTerminal(2);
        var clock = Stopwatch.StartNew();
        var options = new StandaloneHostOptions(request.Socket ?? Agent.AgentPaths.DefaultSocket, request.SecretName)
        {
            IsDefaultSocket = request.Socket is null,
            AllowRoot = request.AllowRoot,
            RsaBits = request.RsaBits,
            Verbose = request.Verbose,
            Lifetime = request.Lifetime,
            IdleLock = request.IdleLock,
        };
        StandaloneHost host = await Progress(terminal, $"starting the vault{(request.RsaBits is int b ? $" (RSA-{b} key)" : string.Empty)}", () => StandaloneHost.StartAsync(options, cancellationToken));
        string socket;
        try
        {
            SecretInput? input = request.Input;
            if (input is null)
            {
                Console.Error.WriteLine($"actorvault: starting locked; set the secret with 'actorvault unlock --secret {request.SecretName}'.");
            }
            else if (input.Kind == SecretInput.Kinds.Terminal)
            {
                // The vault child reads the terminal itself, echo off: the bytes never pass through this process.
                _ = await host.Vault.ReadSecretAsync(request.SecretName, new SecretSource.Terminal($"Secret '{request.SecretName}' for the actorvault host: ", input.Confirm), cancellationToken: cancellationToken);
            }
            else
            {
                SecretBuffer secret = input.Read(string.Empty);
                await Progress(terminal, "sealing the secret to the vault", () => host.Vault.SetSecretAsync(request.SecretName, secret, cancellationToken));
            }

            socket = host.Publish();
            // stdout carries only what scripts parse: shell exports, as ssh-agent prints them.
            Console.Out.WriteLine($"{Agent.AgentProtocol.SocketVariable}={socket}; export {Agent.AgentProtocol.SocketVariable};");
            Console.Out.WriteLine($"{Agent.AgentProtocol.PidVariable}={Environment.ProcessId}; export {Agent.AgentProtocol.PidVariable};");
            Console.Out.Flush();
            Console.Error.WriteLine($"actorvault: host {Environment.ProcessId} serving '{request.SecretName}' ({host.Vault.State.ToString().ToLowerInvariant()}) on {socket} after {clock.ElapsedMilliseconds} ms. Stop with 'actorvault stop' or Ctrl-C.");
        }
        catch
        {
            await host.Vault.StopAsync();
            throw;
        }

        if (request.Command.Length == 0)
        {
            return await host.Stopped;
        }

        return await RunCommandAsync(host, socket, request.Command);
    }

    /// <summary><c>serve -- CMD</c>: CMD runs with the socket in its environment; the host stops when CMD exits, with CMD's exit code.</summary>
    private static async Task<int> RunCommandAsync(StandaloneHost host, string socket, string[] command)
    {
        var start = new ProcessStartInfo(command[0]) { UseShellExecute = false };
        foreach (string argument in command[1..])
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment[Agent.AgentProtocol.SocketVariable] = socket;
        start.Environment[Agent.AgentProtocol.PidVariable] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        int code;
        try
        {
            using Process child = Process.Start(start) ?? throw new IOException($"'{command[0]}' did not start.");
            Task<int> stopped = host.Stopped;
            Task exited = child.WaitForExitAsync();
            if (await Task.WhenAny(exited, stopped) == stopped)
            {
                // The host was stopped first (actorvault stop, a signal): CMD keeps running, without a host.
                return await stopped;
            }

            code = child.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Console.Error.WriteLine($"actorvault: cannot run '{command[0]}': {e.Message}");
            code = e.NativeErrorCode == 2 ? Cli.CommandNotFound : Cli.CommandNotExecutable;
        }

        Console.Error.WriteLine($"actorvault: '{Path.GetFileName(command[0])}' exited ({code}); stopping the host.");
        await host.Vault.StopAsync();
        return code;
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

internal sealed record SecretStateJson(string Name, string State, long? LocksAtMs = null);

internal sealed record HostStatusJson(
    int HostPid,
    int VaultPid,
    string State,
    long UptimeMs,
    int Restarts,
    SecretStateJson[] Secrets,
    int LiveLeases,
    int ClientLeases,
    long LeasesGranted,
    int Connections,
    string Backing,
    long LockedBytes,
    int LiveBuffers,
    bool Hardened,
    bool HostHardened,
    long SecureHeapUsedBytes,
    long SecureHeapSizeBytes,
    int KeyBits,
    string Socket);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(HostStatusJson))]
internal sealed partial class HostJson : JsonSerializerContext;
