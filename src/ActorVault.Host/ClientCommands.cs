using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using ActorVault.Agent;
using ActorVault.Memory;
using ActorVault.Memory.Processes;
using ActorVault.Standalone;

namespace ActorVault.Host;

/// <summary>
/// The short-lived commands — exec, status, unlock, lock, stop — on the host's Unix socket. They load no
/// Akka: connect, one request, one reply, exit. <c>exec</c> passes its command's pipe to the host, which
/// writes the secret into it; this process never holds the bytes.
/// </summary>
internal static class ClientCommands
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static async Task<int> ExecAsync(string socket, string name, int fd, string[] commandLine, CancellationToken ct)
    {
        int readEnd = -1;
        int writeEnd = -1;
        try
        {
            using (AgentClient host = Connect(socket))
            {
                (readEnd, writeEnd) = AgentPipes.Create();
                try
                {
                    _ = await host.AskAsync(new AgentHeader(AgentKind.WriteTo, 0) { Name = name, Message = Path.GetFileName(commandLine[0]) }, Timeout, ct, passDescriptor: writeEnd);
                }
                finally
                {
                    // The host has its own copy of the write end (or none): ours goes, so CMD sees end of input after the secret.
                    AgentPipes.Close(ref writeEnd);
                }
            }
        }
        catch (Exception e) when (e is IOException or AgentRequestException or HostConnectionException)
        {
            AgentPipes.Close(ref readEnd);
            Console.Error.WriteLine($"actorvault: {e.Message}");
            return Cli.ExecFailure;
        }

        int pid;
        try
        {
            pid = SecretHandoff.StartReading(readEnd, fd, commandLine[0], commandLine[1..]);
        }
        catch (Exception e) when (e is FileNotFoundException or UnauthorizedAccessException or IOException)
        {
            Console.Error.WriteLine($"actorvault: {e.Message}");
            return e is FileNotFoundException ? Cli.CommandNotFound : e is UnauthorizedAccessException ? Cli.CommandNotExecutable : Cli.ExecFailure;
        }
        finally
        {
            // CMD has the pipe now (or nobody: then the kernel frees the secret with the pipe).
            AgentPipes.Close(ref readEnd);
        }

        // Signals to this process go to CMD; its exit code is ours.
        var forward = new List<PosixSignalRegistration>();
        foreach ((PosixSignal signal, int number) in new[] { (PosixSignal.SIGTERM, 15), (PosixSignal.SIGINT, 2), (PosixSignal.SIGHUP, 1), (PosixSignal.SIGQUIT, 3) })
        {
            forward.Add(PosixSignalRegistration.Create(signal, context =>
            {
                context.Cancel = true;
                _ = ProcessSignals.Send(pid, number);
            }));
        }

        try
        {
            return await Task.Factory.StartNew(() => SecretHandoff.WaitForExit(pid), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }
        finally
        {
            forward.ForEach(r => r.Dispose());
        }
    }

    public static async Task<int> StatusAsync(string socket, bool json, CancellationToken ct)
    {
        Dictionary<string, string> status;
        using (AgentClient host = Connect(socket))
        {
            status = AgentProtocol.ParseStatus((await host.AskAsync(new AgentHeader(AgentKind.Status, 0), Timeout, ct)).Status);
        }

        Console.Out.WriteLine(json ? StatusJson(status) : StatusText(status));
        return 0;
    }

    public static async Task<int> UnlockAsync(string socket, string name, SecretInput input, TimeSpan? lifetime, CancellationToken ct)
    {
        // Read first (a person may take their time), then connect.
        using SecretBuffer value = input.Read($"Secret '{name}' for the actorvault host: ");
        AgentHeader reply;
        using (AgentClient host = Connect(socket))
        {
            reply = await host.AskAsync(new AgentHeader(AgentKind.Unlock, 0) { Name = name, TtlMs = lifetime is { } l ? (long)l.TotalMilliseconds : null }, Timeout, ct, value);
        }

        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"actorvault: secret '{name}' set in the host's vault ({reply.Length} bytes)."));
        return 0;
    }

    public static async Task<int> LockAsync(string socket, string name, CancellationToken ct)
    {
        AgentHeader reply;
        using (AgentClient host = Connect(socket))
        {
            reply = await host.AskAsync(new AgentHeader(AgentKind.Lock, 0) { Name = name }, Timeout, ct);
        }

        Console.Error.WriteLine(reply.Existed == true ? $"actorvault: secret '{name}' locked." : $"actorvault: secret '{name}' was not set; it stays locked.");
        return 0;
    }

    public static async Task<int> StopAsync(string socket, CancellationToken ct)
    {
        int pid;
        using (AgentClient host = Connect(socket))
        {
            pid = host.HostPid;
            _ = await host.AskAsync(new AgentHeader(AgentKind.Stop, 0), Timeout, ct);
            // The host closes the connection when it is done: its socket is gone by then.
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(20), host.Closed);
            }
            catch (OperationCanceledException) when (host.Closed.IsCancellationRequested)
            {
            }
        }

        // Then wait for the process itself (it zeroes and exits within a few seconds).
        if (!await Task.Factory.StartNew(() => ProcessExit.WaitForExit(pid, TimeSpan.FromSeconds(20)), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default))
        {
            Console.Error.WriteLine($"actorvault: the host (pid {pid}) has not exited after 20 s.");
            return Cli.Failure;
        }

        Console.Error.WriteLine($"actorvault: host {pid} stopped.");
        return 0;
    }

    private static AgentClient Connect(string socket)
    {
        try
        {
            return AgentClient.Connect(socket);
        }
        catch (IOException e)
        {
            throw new HostConnectionException(e.Message, e);
        }
    }

    private static string Get(Dictionary<string, string> s, string key) => s.TryGetValue(key, out string? value) ? value : "?";

    private static long Number(Dictionary<string, string> s, string key) =>
        long.TryParse(Get(s, key), NumberStyles.Integer, CultureInfo.InvariantCulture, out long n) ? n : 0;

    private static string[] Secrets(Dictionary<string, string> s) => Get(s, "secrets").Split(',', StringSplitOptions.RemoveEmptyEntries);

    private static string StatusText(Dictionary<string, string> s)
    {
        string[] unlocked = Secrets(s);
        Dictionary<string, long> locks = Locks(s);
        var secrets = unlocked.Select(n => locks.TryGetValue(n, out long at) ? $"{n} (unlocked, locks in {Until(at)})" : $"{n} (unlocked)").ToList();
        if (!unlocked.Contains(Get(s, "expected")))
        {
            secrets.Add($"{Get(s, "expected")} (locked)");
        }

        TimeSpan up = TimeSpan.FromMilliseconds(Number(s, "uptime-ms"));
        bool hostHardened = Get(s, "host-hardened") == "yes";
        return string.Join(Environment.NewLine,
        [
            string.Create(CultureInfo.InvariantCulture, $"host      pid {Get(s, "host-pid")}, up {(int)up.TotalHours}h {up.Minutes}m {up.Seconds}s, socket {Get(s, "socket")}"),
            $"vault     pid {Get(s, "vault-pid")}, {Get(s, "state")}, {Get(s, "restarts")} restart(s)",
            $"secrets   {string.Join(", ", secrets)}",
            $"leases    {Get(s, "live-leases")} live in the host, {Get(s, "client-leases")} with clients, {Get(s, "leases-granted")} granted to clients; {Get(s, "connections")} connection(s) open",
            $"memory    {Get(s, "backing")}, {Get(s, "locked-bytes")} bytes locked, {Get(s, "live-buffers")} live buffer(s)",
            $"hardened  vault: {Yes(Get(s, "vault-hardened"))}; host: {Yes(Get(s, "host-hardened"))} (not dumpable, no core files{(hostHardened ? ", no .NET diagnostic port" : string.Empty)})",
            $"keystore  RSA-{Get(s, "key-bits")}, OpenSSL secure heap {Get(s, "secure-heap-used")} of {Get(s, "secure-heap-size")} bytes in use",
        ]);
    }

    /// <summary>The <c>locks</c> field: name@unix-ms of the secrets with a lifetime or an idle lock.</summary>
    private static Dictionary<string, long> Locks(Dictionary<string, string> s)
    {
        var locks = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string item in Get(s, "locks").Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            int at = item.LastIndexOf('@');
            if (at > 0 && long.TryParse(item[(at + 1)..], NumberStyles.Integer, CultureInfo.InvariantCulture, out long ms))
            {
                locks[item[..at]] = ms;
            }
        }

        return locks;
    }

    private static string Until(long unixMs)
    {
        TimeSpan left = DateTimeOffset.FromUnixTimeMilliseconds(unixMs) - DateTimeOffset.UtcNow;
        left = left < TimeSpan.Zero ? TimeSpan.Zero : left;
        return left.TotalHours >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{(int)left.TotalHours}h {left.Minutes}m")
            : string.Create(CultureInfo.InvariantCulture, $"{left.Minutes}m {left.Seconds}s");
    }

    private static string Yes(string value) => value == "yes" ? "yes" : "NO";

    private static string StatusJson(Dictionary<string, string> s)
    {
        string[] unlocked = Secrets(s);
        Dictionary<string, long> locks = Locks(s);
        SecretStateJson[] secrets = [.. unlocked.Select(n => new SecretStateJson(n, "unlocked", locks.TryGetValue(n, out long at) ? at : null)), .. unlocked.Contains(Get(s, "expected")) ? [] : new[] { new SecretStateJson(Get(s, "expected"), "locked") }];
        return JsonSerializer.Serialize(
            new HostStatusJson(
                (int)Number(s, "host-pid"),
                (int)Number(s, "vault-pid"),
                Get(s, "state"),
                Number(s, "uptime-ms"),
                (int)Number(s, "restarts"),
                secrets,
                (int)Number(s, "live-leases"),
                (int)Number(s, "client-leases"),
                Number(s, "leases-granted"),
                (int)Number(s, "connections"),
                Get(s, "backing"),
                Number(s, "locked-bytes"),
                (int)Number(s, "live-buffers"),
                Get(s, "vault-hardened") == "yes",
                Get(s, "host-hardened") == "yes",
                Number(s, "secure-heap-used"),
                Number(s, "secure-heap-size"),
                (int)Number(s, "key-bits"),
                Get(s, "socket")),
            HostJson.Default.HostStatusJson);
    }
}
