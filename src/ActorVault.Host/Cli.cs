using System.CommandLine;
using ActorVault.Memory;
using ActorVault.Memory.Readers;
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
        var root = new RootCommand("actorvault — keeps a password where memory dumps, swap, logs and other processes cannot reach it, and lends it to code only inside a callback.");
        root.Subcommands.Add(Demo());
        root.Subcommands.Add(Serve());
        root.Subcommands.Add(Exec());
        root.Subcommands.Add(Status());
        root.Subcommands.Add(Unlock());
        root.Subcommands.Add(Lock());
        root.Subcommands.Add(Stop());
        var vault = new Command("vault", "The vault child process (started by the application; not for use by hand).") { Hidden = true };
        root.Subcommands.Add(vault);
        return root;
    }

    /// <summary>The one line shown for an error a user can act on; null for a bug (which then surfaces as is).</summary>
    public static string? Describe(Exception e) => e switch
    {
        SecretInputException or HostConnectionException or VaultStartupException or VaultUnavailableException or VaultOperationException
            or SecretUnavailableException or LeaseCapacityException or ArgumentException or SecretMemoryException or Agent.AgentRequestException => e.Message,
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

    private static Option<string> SocketOption() => new("--socket")
    {
        Description = $"The host's socket (default: ${Agent.AgentProtocol.SocketVariable}, else $XDG_RUNTIME_DIR/actorvault/agent.sock).",
        DefaultValueFactory = _ => Agent.AgentPaths.ClientSocket(),
    };

    private static Command Serve()
    {
        var secret = SecretOption();
        var source = new PasswordSource();
        var socket = new Option<string?>("--socket") { Description = "Where to listen (default: $XDG_RUNTIME_DIR/actorvault/agent.sock, else /tmp/actorvault-UID/agent.sock); the directory must be this user's and 0700." };
        var noUnlock = new Option<bool>("--no-unlock") { Description = "Start locked; set the secret later with 'actorvault unlock'." };
        var rsaBits = new Option<int?>("--rsa-bits") { Description = "RSA key size of the vault's keystore: 2048, 3072 or 4096." };
        rsaBits.Validators.Add(r =>
        {
            if (ValueOrDefault<int?>(r) is int bits && bits is not (2048 or 3072 or 4096))
            {
                r.AddError($"--rsa-bits must be 2048, 3072 or 4096, not {bits}");
            }
        });
        var allowRoot = new Option<bool>("--allow-root") { Description = "Serve root's connections too (by default only this user's)." };
        var verbose = new Option<bool>("--verbose") { Description = "Also print Akka, vault and per-lease audit lines." };
        Option<TimeSpan?> lifetime = DurationOption("--lifetime", "Lock each secret this long after it is set (like ssh-add -t): N seconds, or 30s, 15m, 8h, 2d.");
        Option<TimeSpan?> idleLock = DurationOption("--idle-lock", "Lock a secret that has not been leased for this long: N seconds, or 30s, 15m, 8h, 2d.");
        var daemon = new Option<bool>("--daemon") { Description = "Detach once serving (like ssh-agent): prints the exports and returns, so eval \"$(actorvault serve --daemon)\" sets them; the host runs on without a terminal." };
        var detach = new Option<bool>("--detach") { Hidden = true };
        var commandLine = new Argument<string[]>("command") { Description = "CMD ARGS… (after --): run CMD with ACTORVAULT_SOCK set, and stop when it exits, with its exit code.", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("serve", "Runs the standalone host: starts the vault child, reads the secret, and serves this user's clients on a Unix socket (0600, in a 0700 directory). Prints shell exports of ACTORVAULT_SOCK and ACTORVAULT_PID on stdout. Runs until a signal, 'actorvault stop', or CMD's exit.")
        {
            secret, socket, noUnlock, rsaBits, allowRoot, verbose, lifetime, idleLock, daemon, detach, commandLine,
        };
        source.AddTo(command);
        command.Validators.Add(r =>
        {
            if (r.GetValue(daemon) && r.GetValue(commandLine) is { Length: > 0 })
            {
                r.AddError("give --daemon or a CMD after --, not both");
            }
        });
        command.SetAction((parse, ct) => parse.GetValue(daemon) ? ServeCommand.StartDaemonAsync(ct) : ServeCommand.RunAsync(
            new ServeRequest(parse.GetValue(socket), parse.GetValue(secret)!, parse.GetValue(noUnlock) ? null : source.From(parse), parse.GetValue(rsaBits), parse.GetValue(allowRoot), parse.GetValue(verbose), parse.GetValue(commandLine) ?? [])
            {
                Lifetime = parse.GetValue(lifetime),
                IdleLock = parse.GetValue(idleLock),
                Detach = parse.GetValue(detach),
            },
            ct));
        return command;
    }

    private static Command Exec()
    {
        var secret = SecretOption();
        var socket = SocketOption();
        var fd = new Option<int>("--fd") { Description = "Descriptor of CMD that carries the secret (0 = its standard input).", DefaultValueFactory = _ => 0 };
        fd.Validators.Add(r =>
        {
            if (ValueOrDefault<int>(r) is < 0 or 1 or 2 or > 1023)
            {
                r.AddError("--fd must be 0 (stdin) or 3–1023 (1 and 2 are CMD's stdout and stderr)");
            }
        });
        var commandLine = new Argument<string[]>("command") { Description = "CMD ARGS… (after --)", Arity = ArgumentArity.OneOrMore };
        commandLine.Validators.Add(r =>
        {
            // An unknown option before "--" would otherwise become the command's name.
            if (r.Tokens.Count > 0 && r.Tokens[0].Value.StartsWith('-'))
            {
                r.AddError($"Unrecognized option '{r.Tokens[0].Value}' (put CMD after --)");
            }
        });
        var command = new Command("exec", "Runs CMD with the secret readable on its standard input (or on descriptor --fd), then end of input. The host writes the secret into CMD's pipe itself: this process never holds it. Returns CMD's exit code (125: the host refused, 126: CMD not executable, 127: CMD not found).")
        {
            secret, fd, socket, commandLine,
        };
        command.SetAction((parse, ct) => ClientCommands.ExecAsync(parse.GetValue(socket)!, parse.GetValue(secret)!, parse.GetValue(fd), parse.GetValue(commandLine)!, ct));
        return command;
    }

    private static Command Status()
    {
        var json = new Option<bool>("--json") { Description = "Machine-readable output." };
        var socket = SocketOption();
        var command = new Command("status", "Shows the host's state: secrets, live leases, memory backing, locked bytes, secure heap, pids, uptime, restarts.") { json, socket };
        command.SetAction((parse, ct) => ClientCommands.StatusAsync(parse.GetValue(socket)!, parse.GetValue(json), ct));
        return command;
    }

    private static Command Unlock()
    {
        var secret = SecretOption();
        var socket = SocketOption();
        var source = new PasswordSource();
        Option<TimeSpan?> lifetime = DurationOption("--lifetime", "Lock the secret this long after it is set: N seconds, or 30s, 15m, 8h, 2d.");
        lifetime.Aliases.Add("-t");
        var command = new Command("unlock", "Reads the secret here (the terminal with echo off, or stdin when it is not a terminal, or a file, descriptor or systemd credential) straight into secret memory, and hands it to the host's vault.")
        {
            secret, socket, lifetime,
        };
        source.AddTo(command);
        command.SetAction((parse, ct) => ClientCommands.UnlockAsync(parse.GetValue(socket)!, parse.GetValue(secret)!, source.From(parse), parse.GetValue(lifetime), ct));
        return command;
    }

    private static Command Lock()
    {
        var secret = SecretOption();
        var socket = SocketOption();
        var command = new Command("lock", "Drops the secret from the host's vault: its live leases (the host's clients' too) are revoked, later leases fail until 'actorvault unlock'.") { secret, socket };
        command.SetAction((parse, ct) => ClientCommands.LockAsync(parse.GetValue(socket)!, parse.GetValue(secret)!, ct));
        return command;
    }

    private static Command Stop()
    {
        var socket = SocketOption();
        var command = new Command("stop", "Stops the host: every secret buffer is zeroed, the vault child exits, the socket is removed.") { socket };
        command.SetAction((parse, ct) => ClientCommands.StopAsync(parse.GetValue(socket)!, ct));
        return command;
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

    /// <summary>A duration as ssh-add -t takes it (plain seconds) or with a unit (s, m, h, d); 1 s to 365 days, anything else is an error.</summary>
    internal static Option<TimeSpan?> DurationOption(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = r =>
        {
            string text = r.Tokens.Count == 1 ? r.Tokens[0].Value : string.Empty;
            if (TryParseDuration(text, out TimeSpan value) && value >= TimeSpan.FromSeconds(1) && value <= TimeSpan.FromDays(365))
            {
                return value;
            }

            r.AddError($"{name} must be 1 s to 365 days: N seconds, or Ns, Nm, Nh, Nd (not '{text}')");
            return null;
        },
    };

    internal static bool TryParseDuration(string text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (text.Length == 0)
        {
            return false;
        }

        char unit = char.IsAsciiDigit(text[^1]) ? 's' : text[^1];
        string digits = char.IsAsciiDigit(text[^1]) ? text : text[..^1];
        if (digits.Length is 0 or > 9 || !digits.All(char.IsAsciiDigit))
        {
            return false;
        }

        long n = long.Parse(digits, System.Globalization.CultureInfo.InvariantCulture);
        TimeSpan? parsed = unit switch
        {
            's' => TimeSpan.FromSeconds(n),
            'm' => TimeSpan.FromMinutes(n),
            'h' => TimeSpan.FromHours(n),
            'd' when n <= 100_000 => TimeSpan.FromDays(n),
            _ => null,
        };
        value = parsed ?? TimeSpan.Zero;
        return parsed is not null;
    }

    private static Option<string> SecretOption()
    {
        var secret = new Option<string>("--secret") { Description = "Name of the secret.", DefaultValueFactory = _ => Agent.SecretNames.Default };
        secret.Validators.Add(r =>
        {
            if (!Agent.SecretNames.IsValid(ValueOrDefault<string>(r)))
            {
                r.AddError($"--secret must be 1–{Agent.SecretNames.MaxLength} characters of A–Z, a–z, 0–9, '.', '_', '-'");
            }
        });
        return secret;
    }
}
