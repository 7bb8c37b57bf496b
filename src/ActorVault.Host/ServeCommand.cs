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

    /// <summary>The daemon's own process (started by <c>--daemon</c>): detach once the exports are out.</summary>
    public bool Detach { get; init; }
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
            Console.Error.WriteLine($"actorvault: host {Environment.ProcessId} serving '{request.SecretName}' ({host.Vault.State.ToString().ToLowerInvariant()}) on {socket} after {clock.ElapsedMilliseconds} ms. Stop with 'actorvault stop'{(request.Detach ? string.Empty : " or Ctrl-C")}.");
            if (request.Detach && Memory.Processes.ProcessDetach.Detach() is { } problem)
            {
                Console.Error.WriteLine($"actorvault: warning: could not detach: {problem}");
            }
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

    /// <summary>
    /// <c>serve --daemon</c>: starts this command again with <c>--detach</c> (stdin shared, so the vault can
    /// prompt on the terminal; stdout and stderr through pipes of this process, relayed), prints its two
    /// export lines, and returns 0 once it serves — or its exit code when it fails first. The daemon
    /// holds nothing of this process's or the caller's descriptors then (its .NET console writers go to
    /// our pipes, whose reader is gone: .NET drops writes to a closed pipe), so
    /// <c>eval "$(actorvault serve --daemon)"</c> and <c>ssh host 'eval …'</c> return.
    /// </summary>
    public static async Task<int> StartDaemonAsync(CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath ?? throw new InvalidOperationException("The actorvault executable's path is unknown."))
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in Environment.GetCommandLineArgs()[1..])
        {
            start.ArgumentList.Add(argument == "--daemon" ? "--detach" : argument);
        }

        using Process daemon = Process.Start(start) ?? throw new IOException("The daemon did not start.");
        Task relay = Task.Run(async () =>
        {
            char[] buffer = new char[512];
            int n;
            while ((n = await daemon.StandardError.ReadAsync(buffer, cancellationToken)) > 0)
            {
                Console.Error.Write(buffer, 0, n);
            }
        }, cancellationToken);
        int exports = 0;
        while (exports < 2 && await daemon.StandardOutput.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.StartsWith($"{Agent.AgentProtocol.SocketVariable}=", StringComparison.Ordinal) || line.StartsWith($"{Agent.AgentProtocol.PidVariable}=", StringComparison.Ordinal))
            {
                Console.Out.WriteLine(line);
                exports++;
            }
        }

        if (exports == 2)
        {
            Console.Out.WriteLine($"echo actorvault host pid {daemon.Id};");
            // Its ready line follows the exports; give it a moment, not a wait on the daemon's life.
            await Task.WhenAny(relay, Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken));
            return 0;
        }

        await daemon.WaitForExitAsync(cancellationToken);
        await relay;
        return daemon.ExitCode == 0 ? Cli.Failure : daemon.ExitCode;
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
