using Akka.Actor;
using ActorVault.Agent;
using ActorVault.Configuration;

namespace ActorVault.Standalone;

/// <summary>Options of <c>actorvault serve</c>.</summary>
internal sealed record StandaloneHostOptions(string SocketPath, string SecretName)
{
    /// <summary>True when <see cref="SocketPath"/> is the per-user default (then a hijacked <c>/tmp</c> directory is replaced by a fresh one).</summary>
    public bool IsDefaultSocket { get; init; }

    /// <summary>Serve root's connections too (a host of another user refuses root unless asked).</summary>
    public bool AllowRoot { get; init; }

    public int? RsaBits { get; init; }

    public string? ExecutablePath { get; init; }

    /// <summary>The host's one-line events (stderr by default).</summary>
    public Action<string>? Events { get; init; }

    /// <summary>Akka, vault and per-lease audit lines too.</summary>
    public bool Verbose { get; init; }

    /// <summary>Lock every secret this long after it is set (<c>--lifetime</c>).</summary>
    public TimeSpan? Lifetime { get; init; }

    /// <summary>Lock a secret when it has not been leased for this long (<c>--idle-lock</c>).</summary>
    public TimeSpan? IdleLock { get; init; }
}

/// <summary>
/// The standalone host, like ssh-agent for .NET: one long-running process runs the supervisor and the
/// vault child (a <see cref="VaultClient"/>) and serves short-lived clients on a Unix socket that only
/// this user can reach (a <c>0700</c> directory, a <c>0600</c> socket, and the kernel's peer uid on every
/// connection). Each connection is an actor under <c>/user/agent</c>. The socket is removed on every stop
/// (<c>actorvault stop</c>, SIGTERM/SIGINT/SIGHUP/SIGQUIT through the vault client's CoordinatedShutdown).
/// </summary>
internal sealed class StandaloneHost
{
    private readonly TaskCompletionSource<int> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private AgentListener? _listener;
    private int _unpublished;

    private StandaloneHost(StandaloneHostOptions options, VaultClient vault, string socketPath)
    {
        Options = options;
        Vault = vault;
        SocketPath = socketPath;
    }

    public StandaloneHostOptions Options { get; }

    public VaultClient Vault { get; }

    /// <summary>Where clients connect (may differ from the requested path when a hijacked default directory was replaced).</summary>
    public string SocketPath { get; }

    /// <summary>Completes with the exit code once the host stopped through <c>actorvault stop</c>.</summary>
    public Task<int> Stopped => _exit.Task;

    private Action<string> Events => EventsOf(Options);

    /// <summary>Checks the socket's directory, starts the vault; the caller then sets the secret and calls <see cref="Publish"/>.</summary>
    public static async Task<StandaloneHost> StartAsync(StandaloneHostOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        string socketPath;
        try
        {
            socketPath = AgentPaths.PrepareForServe(options.SocketPath, options.IsDefaultSocket, out string? replaced);
            if (replaced is not null)
            {
                EventsOf(options)($"warning: {replaced}; serving on '{socketPath}' instead (clients need {AgentProtocol.SocketVariable})");
            }
        }
        catch (IOException e)
        {
            throw new HostConnectionException(e.Message, e);
        }

        VaultClient vault = await VaultClient.StartAsync(
            new VaultClientOptions
            {
                HandleSignals = true,
                RsaBits = options.RsaBits,
                ExecutablePath = options.ExecutablePath,
                // Vault chatter only with --verbose; real warnings and errors always.
                VaultLog = line =>
                {
                    if (options.Verbose || IsWarning(line))
                    {
                        EventsOf(options)($"[vault] {line}");
                    }
                },
            },
            cancellationToken).ConfigureAwait(false);
        return new StandaloneHost(options, vault, socketPath);
    }

    /// <summary>Starts listening; returns the socket path. Throws <see cref="HostConnectionException"/> when another host serves there.</summary>
    public string Publish()
    {
        HostSettings settings = HostSettings.From(ActorVaultConfig.Load("actorvault-host.conf"));
        var context = new HostContext(Vault, settings, Options.SecretName, SocketPath, RequestStop, Events, Options.Verbose ? Events : null);
        IActorRef agent = Vault.LinkSystem.ActorOf(HostAgent.Props(context), HostAgent.Name);
        context.Agent = agent;
        context.Lifetimes = Vault.LinkSystem.ActorOf(SecretLifetimes.Props(context, Options.Lifetime, Options.IdleLock), "secret-lifetimes");
        if (Vault.State == VaultState.Unlocked)
        {
            // The secret serve read before it published: its lifetime starts now.
            context.Lifetimes.Tell(new SecretLifetimes.Set(Options.SecretName, null));
        }
        try
        {
            _listener = AgentListener.Start(SocketPath, Options.AllowRoot, (socket, pid) => agent.Tell(new HostAgent.Accepted(socket, pid)), context.Refusal);
        }
        catch (IOException e)
        {
            Vault.LinkSystem.Stop(agent);
            throw new HostConnectionException(e.Message, e);
        }

        // Every way the host stops runs the link system's CoordinatedShutdown: stop listening first.
        CoordinatedShutdown.Get(Vault.LinkSystem).AddTask(CoordinatedShutdown.PhaseBeforeServiceUnbind, "actorvault-host-unpublish", () =>
        {
            Unpublish();
            return Task.FromResult(Akka.Done.Instance);
        });

        return SocketPath;
    }

    /// <summary><c>actorvault stop</c>: stop after the reply has left, exit 0.</summary>
    public void RequestStop() => _ = Task.Run(async () =>
    {
        Unpublish();
        await Vault.StopAsync().ConfigureAwait(false);
        _exit.TrySetResult(0);
    });

    /// <summary>Where the host's one-line events go: <see cref="StandaloneHostOptions.Events"/>, else stderr.</summary>
    private static Action<string> EventsOf(StandaloneHostOptions options) =>
        options.Events ?? (line => Console.Error.WriteLine($"actorvault: {line}"));

    private static bool IsWarning(string line) =>
        line.Contains("[W]", StringComparison.Ordinal) || line.Contains("[E]", StringComparison.Ordinal)
        || line.Contains("warning", StringComparison.OrdinalIgnoreCase) || line.Contains("error", StringComparison.OrdinalIgnoreCase);

    private void Unpublish()
    {
        if (Interlocked.Exchange(ref _unpublished, 1) == 0)
        {
            _listener?.Dispose();
        }
    }
}
