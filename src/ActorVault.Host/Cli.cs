using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using ActorVault.Memory;
using ActorVault.Memory.Processes;
using ActorVault.Memory.Readers;
using ActorVault.Protocol;
using ActorVault.Standalone;

namespace ActorVault.Host;

/// <summary>The commands of <c>actorvault</c> (System.CommandLine): demo, serve, exec, status, unlock, lock, stop.</summary>
internal static class Cli
{
    public const int Failure = 1;
    public const int UsageError = 2;

    /// <summary><c>exec</c>'s own failures, as env(1) and sudo report them, apart from the command's exit codes.</summary>
    public const int ExecFailure = 125;
    public const int CommandNotExecutable = 126;
    public const int CommandNotFound = 127;

    private static readonly TimeSpan ClientTimeout = TimeSpan.FromSeconds(30);

    public static RootCommand Build()
    {
        var infoFile = new Option<string>("--info-file")
        {
            Description = "The host's connection-info file (default: $XDG_RUNTIME_DIR/actorvault/host.info).",
            DefaultValueFactory = _ => HostInfoFile.DefaultPath,
        };
        var root = new RootCommand("actorvault — keeps a password where memory dumps, swap, logs and other processes cannot reach it, and lends it to code only inside a callback.");
        root.Subcommands.Add(Demo());
        root.Subcommands.Add(Serve(infoFile));
        root.Subcommands.Add(Exec(infoFile));
        root.Subcommands.Add(Status(infoFile));
        root.Subcommands.Add(Unlock(infoFile));
        root.Subcommands.Add(Lock(infoFile));
        root.Subcommands.Add(Stop(infoFile));
        var vault = new Command("vault", "The vault child process (started by the application; not for use by hand).") { Hidden = true };
        root.Subcommands.Add(vault);
        return root;
    }

    /// <summary>The one line shown for an error a user can act on; null for a bug (which then surfaces as is).</summary>
    public static string? Describe(Exception e) => e switch
    {
        SecretInputException or HostConnectionException or VaultStartupException or VaultUnavailableException or VaultOperationException
            or SecretLockedException or LeaseCapacityException or ArgumentException or SecretMemoryException => e.Message,
        IOException io => io.Message,
        _ => null,
    };

    private static Command Demo()
    {
        var backing = new Option<string>("--backing") { Description = "Secret memory backing: auto, memfd or locked.", DefaultValueFactory = _ => "auto" };
        backing.AcceptOnlyFromAmong("auto", "memfd", "locked");
        var command = new Command("demo", "Starts the vault child, reads a password (the vault reads the terminal with echo off, or this process reads stdin when it is not a terminal), unlocks a demo wallet inside a lease, and reports what protects the password.")
        {
            backing,
        };
        command.SetAction((parse, _) => DemoCommand.RunAsync(["--backing", parse.GetValue(backing)!]));
        return command;
    }

    private static Command Serve(Option<string> infoFile)
    {
        var secret = SecretOption();
        var source = new PasswordSource();
        var noUnlock = new Option<bool>("--no-unlock") { Description = "Start locked; set the secret later with 'actorvault unlock'." };
        var rsaBits = new Option<int?>("--rsa-bits") { Description = "RSA key size of the vault's keystore: 2048, 3072 or 4096." };
        var mutualTls = new Option<bool>("--mutual-tls") { Description = "Mutual TLS with per-run pinned certificates on the client port (clients find theirs in the info file); the vault link is a private Unix socket and needs none." };
        var command = new Command("serve", "Runs the standalone host: starts the supervisor and the vault child, reads the secret, listens on loopback, and writes the connection info (address and client key) to a file only you can read. Runs until a signal or 'actorvault stop'.")
        {
            secret, infoFile, noUnlock, rsaBits, mutualTls,
        };
        source.AddTo(command);
        command.SetAction((parse, ct) => ServeCommand.RunAsync(parse.GetValue(infoFile)!, parse.GetValue(secret)!, parse.GetValue(noUnlock) ? null : source.From(parse), parse.GetValue(rsaBits), parse.GetValue(mutualTls), ct));
        return command;
    }

    private static Command Exec(Option<string> infoFile)
    {
        var secret = SecretOption();
        var fd = new Option<int>("--fd") { Description = "Descriptor of CMD that carries the secret (0 = its standard input).", DefaultValueFactory = _ => 0 };
        fd.Validators.Add(r =>
        {
            if (ValueOrDefault<int>(r) is < 0 or 1 or 2 or > 1023)
            {
                r.AddError("--fd must be 0 (stdin) or 3–1023 (1 and 2 are CMD's stdout and stderr)");
            }
        });
        var ttl = new Option<int>("--ttl") { Description = "Longest lease in seconds (the host caps it).", DefaultValueFactory = _ => 30 };
        var commandLine = new Argument<string[]>("command") { Description = "CMD ARGS… (after --)", Arity = ArgumentArity.OneOrMore };
        var command = new Command("exec", "Leases the secret from the host and hands it to CMD on its standard input (or on descriptor --fd), then zeroes it; returns CMD's exit code (125: exec failed, 127: CMD not found).")
        {
            secret, fd, ttl, infoFile, commandLine,
        };
        command.SetAction((parse, ct) => ExecAsync(parse.GetValue(infoFile)!, parse.GetValue(secret)!, parse.GetValue(fd), TimeSpan.FromSeconds(Math.Max(1, parse.GetValue(ttl))), parse.GetValue(commandLine)!, ct));
        return command;
    }

    private static Command Status(Option<string> infoFile)
    {
        var json = new Option<bool>("--json") { Description = "Machine-readable output." };
        var command = new Command("status", "Shows the host's state: secrets, live leases, memory backing, locked bytes, secure heap, pids, uptime, restarts.") { json, infoFile };
        command.SetAction(async (parse, ct) =>
        {
            await using HostConnection host = await HostConnection.ConnectAsync(parse.GetValue(infoFile)!, ClientTimeout, ct);
            HostStatusReply status = await host.StatusAsync(ct);
            Console.Out.WriteLine(parse.GetValue(json) ? StatusJson(status) : StatusText(status, parse.GetValue(infoFile)!));
            return 0;
        });
        return command;
    }

    private static Command Unlock(Option<string> infoFile)
    {
        var secret = SecretOption();
        var source = new PasswordSource();
        var command = new Command("unlock", "Reads the secret here (the terminal with echo off, or stdin when it is not a terminal, or a file, descriptor or systemd credential) and hands it to the host's vault, sealed.")
        {
            secret, infoFile,
        };
        source.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            string name = parse.GetValue(secret)!;
            // Read first (a person may take their time), then connect: a session never idles out waiting.
            SecretBuffer value = source.From(parse).Read($"Secret '{name}' for the actorvault host: ");
            int length;
            try
            {
                await using HostConnection host = await HostConnection.ConnectAsync(parse.GetValue(infoFile)!, ClientTimeout, ct);
                length = await host.UnlockAsync(name, value, ct);
            }
            finally
            {
                value.Dispose();
            }

            Console.Error.WriteLine($"actorvault: secret '{name}' set in the host's vault ({length} bytes).");
            return 0;
        });
        return command;
    }

    private static Command Lock(Option<string> infoFile)
    {
        var secret = SecretOption();
        var command = new Command("lock", "Drops the secret from the host's vault: its live leases are revoked, later leases fail until 'actorvault unlock'.") { secret, infoFile };
        command.SetAction(async (parse, ct) =>
        {
            string name = parse.GetValue(secret)!;
            await using HostConnection host = await HostConnection.ConnectAsync(parse.GetValue(infoFile)!, ClientTimeout, ct);
            bool existed = await host.LockAsync(name, ct);
            Console.Error.WriteLine(existed ? $"actorvault: secret '{name}' locked." : $"actorvault: secret '{name}' was not set; it stays locked.");
            return 0;
        });
        return command;
    }

    private static Command Stop(Option<string> infoFile)
    {
        var command = new Command("stop", "Stops the host: every secret buffer is zeroed, the vault child exits, the info file is shredded.") { infoFile };
        command.SetAction(async (parse, ct) =>
        {
            int pid;
            await using (HostConnection host = await HostConnection.ConnectAsync(parse.GetValue(infoFile)!, ClientTimeout, ct))
            {
                pid = host.HostPid;
                try
                {
                    _ = await host.StopHostAsync(ct);
                }
                catch (HostConnectionException) when (!host.IsRefusal)
                {
                    // The reply can be lost while the host shuts its remoting down; its exit decides.
                }
            }

            // Wait for the host to be gone (it zeroes and exits within a few seconds).
            DateTime until = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (Directory.Exists($"/proc/{pid}") && DateTime.UtcNow < until)
            {
                await Task.Delay(50, ct);
            }

            if (Directory.Exists($"/proc/{pid}"))
            {
                Console.Error.WriteLine($"actorvault: the host (pid {pid}) has not exited after 20 s.");
                return Failure;
            }

            Console.Error.WriteLine($"actorvault: host {pid} stopped.");
            return 0;
        });
        return command;
    }

    private static async Task<int> ExecAsync(string infoFile, string name, int fd, TimeSpan ttl, string[] commandLine, CancellationToken ct)
    {
        HostConnection host;
        SecretBuffer secret;
        try
        {
            host = await HostConnection.ConnectAsync(infoFile, ClientTimeout, ct);
        }
        catch (Exception e) when (Describe(e) is { } message)
        {
            Console.Error.WriteLine($"actorvault: {message}");
            return ExecFailure;
        }

        try
        {
            secret = await host.LeaseAsync(name, ttl, ct);
        }
        catch (Exception e) when (Describe(e) is { } message)
        {
            await host.DisposeAsync();
            Console.Error.WriteLine($"actorvault: {message}");
            return ExecFailure;
        }

        int pid;
        try
        {
            pid = SecretHandoff.Start(secret, fd, commandLine[0], commandLine[1..]);
        }
        catch (Exception e) when (e is FileNotFoundException or UnauthorizedAccessException or IOException)
        {
            Console.Error.WriteLine($"actorvault: {e.Message}");
            return e is FileNotFoundException ? CommandNotFound : e is UnauthorizedAccessException ? CommandNotExecutable : ExecFailure;
        }
        finally
        {
            secret.Dispose();
        }

        // The secret is zeroed; forward signals to CMD from now on, then close the session while it runs.
        var forward = new List<System.Runtime.InteropServices.PosixSignalRegistration>();
        foreach ((System.Runtime.InteropServices.PosixSignal signal, int number) in new[]
        {
            (System.Runtime.InteropServices.PosixSignal.SIGTERM, 15), (System.Runtime.InteropServices.PosixSignal.SIGINT, 2),
            (System.Runtime.InteropServices.PosixSignal.SIGHUP, 1), (System.Runtime.InteropServices.PosixSignal.SIGQUIT, 3),
        })
        {
            forward.Add(System.Runtime.InteropServices.PosixSignalRegistration.Create(signal, context =>
            {
                context.Cancel = true;
                _ = ProcessSignals.Send(pid, number);
            }));
        }

        try
        {
            Task<int> exited = Task.Factory.StartNew(() => SecretHandoff.WaitForExit(pid), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            try
            {
                await host.DisposeAsync();
            }
#pragma warning disable CA1031 // closing the session must not orphan CMD: its exit code is what exec returns
            catch (Exception e)
#pragma warning restore CA1031
            {
                Console.Error.WriteLine($"actorvault: closing the session failed ({e.GetType().Name}); the host closes it when idle.");
            }

            return await exited;
        }
        finally
        {
            forward.ForEach(r => r.Dispose());
        }
    }

    /// <summary>An option's value inside a validator; default when it does not convert (that error is reported by itself).</summary>
    internal static T? ValueOrDefault<T>(System.CommandLine.Parsing.OptionResult result)
    {
        try
        {
            return result.GetValueOrDefault<T>();
        }
        catch (InvalidOperationException)
        {
            return default;
        }
    }

    private static Option<string> SecretOption()
    {
        var secret = new Option<string>("--secret") { Description = "Name of the secret.", DefaultValueFactory = _ => VaultClient.DefaultSecretName };
        secret.Validators.Add(r =>
        {
            if (!Vault.SecretNames.IsValid(ValueOrDefault<string>(r)))
            {
                r.AddError($"--secret must be 1–{Vault.SecretNames.MaxLength} characters of A–Z, a–z, 0–9, '.', '_', '-'");
            }
        });
        return secret;
    }

    private static string Yes(bool value) => value ? "yes" : "NO";

    private static string StatusText(HostStatusReply s, string infoFile)
    {
        var secrets = new List<string>();
        foreach (string name in s.Secrets)
        {
            secrets.Add($"{name} (unlocked)");
        }

        if (!s.Secrets.Contains(s.Expected))
        {
            secrets.Add($"{s.Expected} (locked)");
        }

        TimeSpan up = TimeSpan.FromMilliseconds(s.UptimeMs);
        return string.Join(Environment.NewLine,
        [
            string.Create(CultureInfo.InvariantCulture, $"host      pid {s.HostPid}, up {(int)up.TotalHours}h {up.Minutes}m {up.Seconds}s, info {infoFile}"),
            string.Create(CultureInfo.InvariantCulture, $"vault     pid {s.VaultPid}, {s.State}, {s.Restarts} restart(s)"),
            $"secrets   {string.Join(", ", secrets)}",
            string.Create(CultureInfo.InvariantCulture, $"leases    {s.LiveLeases} live, {s.LeasesGranted} granted to clients; {s.Sessions} client session(s) open"),
            string.Create(CultureInfo.InvariantCulture, $"memory    {s.Backing}, {s.LockedBytes} bytes locked, {s.LiveBuffers} live buffer(s)"),
            $"hardened  vault: {Yes(s.Hardened)}; host: {Yes(s.HostHardened)} (not dumpable, no core files{(s.HostHardened ? ", no .NET diagnostic port" : string.Empty)})",
            string.Create(CultureInfo.InvariantCulture, $"keystore  RSA-{s.KeyBits}, OpenSSL secure heap {s.SecureHeapUsedBytes} of {s.SecureHeapSizeBytes} bytes in use"),
        ]);
    }

    private static string StatusJson(HostStatusReply s) => JsonSerializer.Serialize(
        new HostStatusJson(
            s.HostPid,
            s.VaultPid,
            s.State,
            s.UptimeMs,
            s.Restarts,
            [.. s.Secrets.Select(n => new SecretStateJson(n, "unlocked")).Concat(s.Secrets.Contains(s.Expected) ? [] : [new SecretStateJson(s.Expected, "locked")])],
            s.LiveLeases,
            s.LeasesGranted,
            s.Sessions,
            s.Backing,
            s.LockedBytes,
            s.LiveBuffers,
            s.Hardened,
            s.HostHardened,
            s.SecureHeapUsedBytes,
            s.SecureHeapSizeBytes,
            s.KeyBits),
        HostJson.Default.HostStatusJson);
}
