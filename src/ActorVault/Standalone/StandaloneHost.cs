using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.Configuration;
using ActorVault.Configuration;
using ActorVault.Crypto;
using ActorVault.Memory;
using ActorVault.Serialization;

namespace ActorVault.Standalone;

/// <summary>Options of <c>actorvault serve</c>.</summary>
internal sealed record StandaloneHostOptions(string InfoPath, string SecretName)
{
    public int? RsaBits { get; init; }

    public string? ExecutablePath { get; init; }

    /// <summary>Mutual TLS with per-run pinned certificates, on the vault link and on the client port.</summary>
    public bool MutualTls { get; init; }

    public Config? HostConfig { get; init; }

    /// <summary>Vault log lines (stderr by default).</summary>
    public Action<string>? VaultLog { get; init; }
}

/// <summary>
/// The standalone actor host, like ssh-agent for .NET: one long-running process runs the supervisor and
/// the vault child (a <see cref="VaultClient"/>), plus a second loopback-only actor system whose
/// <c>/user/host</c> (<see cref="HostGateway"/>) lends the secret to short-lived clients that prove the
/// client key from the info file. The info file is published last and shredded first on every stop
/// (<c>actorvault stop</c>, SIGTERM/SIGINT/SIGHUP/SIGQUIT through the vault client's CoordinatedShutdown).
/// </summary>
internal sealed class StandaloneHost
{
    private readonly TaskCompletionSource<int> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private HostSessions? _sessions;
    private LinkTls? _tls;
    private ActorSystem? _hostSystem;
    private int _unpublished;

    private StandaloneHost(StandaloneHostOptions options, VaultClient vault)
    {
        Options = options;
        Vault = vault;
    }

    public StandaloneHostOptions Options { get; }

    public VaultClient Vault { get; }

    public string Address { get; private set; } = string.Empty;

    /// <summary>Completes with the exit code once the host stopped through <c>actorvault stop</c>.</summary>
    public Task<int> Stopped => _exit.Task;

    /// <summary>
    /// Checks the info file's directory and any previous file, starts the vault; the caller then sets
    /// the secret and calls <see cref="Publish"/>.
    /// </summary>
    public static async Task<StandaloneHost> StartAsync(StandaloneHostOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        HostInfoFile.CheckDirectory(options.InfoPath);
        RemoveStale(options.InfoPath);
        VaultClient vault = await VaultClient.StartAsync(
            new VaultClientOptions
            {
                HandleSignals = true,
                RsaBits = options.RsaBits,
                ExecutablePath = options.ExecutablePath,
                VaultLog = options.VaultLog ?? (line => Console.Error.WriteLine($"[vault] {line}")),
            },
            cancellationToken).ConfigureAwait(false);
        return new StandaloneHost(options, vault);
    }

    /// <summary>Starts the client-facing system and writes the info file; returns its path.</summary>
    public string Publish()
    {
        Config config = ActorVaultConfig.ForHost(Options.HostConfig ?? Config.Empty, Options.MutualTls);
        HostTlsInfo? clientTls = null;
        ActorSystem system;
        if (Options.MutualTls)
        {
            // One certificate for the host, one that every client of this run presents (its key goes
            // into the info file, like the client key); each side pins the other's SHA-256.
            _tls = LinkTls.Create("host");
            using LinkTls client = LinkTls.Create("host-client");
            _tls.Pin(client.Digest);
            clientTls = new HostTlsInfo(_tls.Digest, client.Certificate.RawData, ExportKey(client));
            system = ActorSystem.Create("actorvault-host", BootstrapSetup.Create().WithConfig(config).And(_tls.Setup));
        }
        else
        {
            system = ActorSystem.Create("actorvault-host", config);
        }

        _hostSystem = system;
        HostSettings settings = HostSettings.From(system.Settings.Config, Options.SecretName);
        SecretBuffer clientKey = Aead.NewKey();
        SessionKeyRing ring = SessionKeyRing.For(system);
        _sessions = new HostSessions(clientKey, ring, settings.MaxSessions, settings.ClockSkew);
        ring.Admission = _sessions;
        system.ActorOf(HostGateway.Props(Vault, _sessions, settings, RequestStop), HostGateway.Name);
        Address = ((ExtendedActorSystem)system).Provider.DefaultAddress.ToString();

        try
        {
            HostInfoFile.Write(Options.InfoPath, Address, Environment.ProcessId, clientKey, clientTls);
        }
        catch (IOException e)
        {
            // Another serve published first (O_EXCL): its file is left alone.
            _hostSystem.Terminate().Wait(TimeSpan.FromSeconds(10));
            throw new HostConnectionException($"Cannot publish '{Options.InfoPath}': {e.Message} (another actorvault host may have just started there).", e);
        }
        finally
        {
            clientTls?.ClientPrivateKey.Dispose();
        }

        // Every way the host stops runs the link system's CoordinatedShutdown: unpublish first. Only a
        // host that wrote the file may shred it.
        CoordinatedShutdown.Get(Vault.LinkSystem).AddTask(CoordinatedShutdown.PhaseBeforeServiceUnbind, "actorvault-host-unpublish", async () =>
        {
            await UnpublishAsync().ConfigureAwait(false);
            return Akka.Done.Instance;
        });

        return Options.InfoPath;
    }

    /// <summary>The client certificate's PKCS#8 private key, exported straight into secret memory.</summary>
    private static SecretBuffer ExportKey(LinkTls client)
    {
        using System.Security.Cryptography.ECDsa key = client.Certificate.GetECDsaPrivateKey()
            ?? throw new InvalidOperationException("The client certificate has no private key.");
        using SecretBuffer scratch = SecretMemory.Allocate(512);
        int length = 0;
        scratch.Write(key, (span, k) =>
        {
            if (!k.TryExportPkcs8PrivateKey(span, out length))
            {
                throw new InvalidOperationException("The client key does not fit 512 bytes.");
            }
        });
        SecretBuffer exported = SecretMemory.Allocate(length);
        using (SecretBuffer.Scope from = scratch.Open())
        using (SecretBuffer.Scope to = exported.Open())
        {
            from.Bytes[..length].CopyTo(to.WritableBytes);
        }

        return exported;
    }

    /// <summary><c>actorvault stop</c>: stop after the reply has left, exit 0.</summary>
    public void RequestStop() => _ = Task.Run(async () =>
    {
        // Let the HostStopping reply leave before remoting shuts down.
        await Task.Delay(TimeSpan.FromMilliseconds(200)).ConfigureAwait(false);
        await Vault.StopAsync().ConfigureAwait(false);
        _exit.TrySetResult(0);
    });

    private async Task UnpublishAsync()
    {
        if (Interlocked.Exchange(ref _unpublished, 1) != 0)
        {
            return;
        }

        SecretFiles.Shred(Options.InfoPath);
        _sessions?.Dispose();
        if (_hostSystem is not null)
        {
            await _hostSystem.Terminate().ConfigureAwait(false);
        }

        _tls?.Dispose();
    }

    /// <summary>An info file left by a host that died: removed. One whose host still runs: refuse to start.</summary>
    private static void RemoveStale(string path)
    {
        FileOwnership file = SecretFiles.Inspect(path);
        if (!file.Exists)
        {
            return;
        }

        if (!file.IsRegularFile || file.OwnerId != SecretFiles.CurrentUserId)
        {
            throw new HostConnectionException($"'{path}' exists and is not this user's info file; refusing to replace it (pass --info-file elsewhere).");
        }

        int pid;
        try
        {
            using HostInfo previous = HostInfoFile.Read(path);
            pid = previous.HostPid;
        }
        catch (HostConnectionException)
        {
            pid = 0;
        }

        if (pid > 0 && pid != Environment.ProcessId && Directory.Exists($"/proc/{pid}"))
        {
            throw new HostConnectionException($"Another actorvault host (pid {pid}) serves '{path}'; stop it with 'actorvault stop' or pass --info-file elsewhere.");
        }

        SecretFiles.Shred(path);
    }
}
