using System.Globalization;
using Akka.Actor;
using Akka.Configuration;
using ActorVault.Configuration;
using ActorVault.Crypto;
using ActorVault.Memory;
using ActorVault.Memory.Readers;
using ActorVault.Protocol;

namespace ActorVault.Vault;

/// <summary>
/// The vault child process (<c>actorvault vault</c>). In order: watch the parent (pidfd, stdin and
/// link-socket hang-up), harden the process (not dumpable, no core), initialize the OpenSSL secure
/// heap, connect to the parent's rendezvous socket and check that its listener is the parent, read the
/// 32-byte bootstrap secret from it into secret memory, derive the session keys, start the actor
/// system on that socket (<see cref="Transport.LinkSocketTransport"/>), and answer READY tagged under
/// the bootstrap (<see cref="Transport.LinkHandshake"/>). When the parent is gone: zero everything,
/// shut down, exit within a second.
/// </summary>
internal static class VaultHost
{
    /// <summary>How long the vault's own shutdown may take once its parent is gone, before the process ends anyway.</summary>
    private static readonly TimeSpan ParentGoneLeash = TimeSpan.FromMilliseconds(700);

    /// <summary>Runs the vault until its parent goes away or it is shut down; returns the exit code.</summary>
    public static int Run(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        int secureHeap = OpenSslSecureHeap.DefaultSizeBytes;
        int? rsaBits = null;
        string? linkPath = null;
        string? linkName = null;
        int parentPid = 0;
        for (int i = 0; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "--secure-heap" when i + 1 < args.Count:
                    secureHeap = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--rsa-bits" when i + 1 < args.Count:
                    rsaBits = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--link" when i + 1 < args.Count:
                    linkPath = args[++i];
                    break;
                case "--link-name" when i + 1 < args.Count:
                    linkName = args[++i];
                    break;
                case "--parent" when i + 1 < args.Count:
                    parentPid = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                default:
                    Console.Error.WriteLine($"actorvault vault: unknown argument '{args[i]}'");
                    return VaultProcessContract.ExitStartupFailed;
            }
        }

        // First of all: nothing of this process may outlive its parent, whatever state it is in.
        var parentGone = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        Memory.Processes.ParentWatch watch = Memory.Processes.ParentWatch.Start(parentPid, reason =>
        {
            SecretMemory.ZeroAll("parent process gone");
            parentGone.TrySetResult(reason);
            // A hard stop behind the orderly one: whatever the actor system does, the process ends.
            var leash = new Thread(static () =>
            {
                Thread.Sleep(ParentGoneLeash + TimeSpan.FromMilliseconds(150));
                Memory.Processes.ProcessExit.Now(VaultProcessContract.ExitParentGone);
            }) { IsBackground = true, Name = "actorvault-exit-leash" };
            leash.Start();
        });
        try
        {
            watch.WatchHangup(0, "stdin");
        }
        catch (InvalidOperationException)
        {
            // Started by hand with stdin closed: the pidfd and the link socket still tell.
        }

        if (linkPath is null || linkName is null)
        {
            Console.Error.WriteLine("actorvault vault: no --link socket (the vault is started by the application, which gives it one).");
            return VaultProcessContract.ExitStartupFailed;
        }

        // Then harden, before anything secret exists and before the link is opened: the parent gives
        // the bootstrap only to a child that is already non-dumpable when it connects.
        HardeningStatus hardening = ProcessHardening.Apply();
        foreach (string problem in hardening.Problems)
        {
            Console.Error.WriteLine($"actorvault vault: hardening: {problem}");
        }

        SecureHeapStatus heap = OpenSslSecureHeap.Initialize(secureHeap);
        if (!heap.Initialized)
        {
            Console.Error.WriteLine("actorvault vault: the OpenSSL secure heap could not be initialized; refusing to hold keys outside it.");
            return VaultProcessContract.ExitStartupFailed;
        }

        var link = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        SessionKeys keys;
        SecretBuffer bootstrap;
        try
        {
            link.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(linkPath));
            // The parent proves the child; the child proves the parent: whoever answers at the path
            // must be the process that started it (a process of the same user could have put its
            // own socket there), or it would hand out a bootstrap of its own and drive this vault.
            (int peerPid, int peerUid) = Transport.LinkHandshake.PeerCredentials(link);
            if (peerPid != parentPid || peerPid != Memory.Processes.ParentWatch.CurrentParent || peerUid != (int)SecretFiles.CurrentUserId)
            {
                link.Dispose();
                Console.Error.WriteLine($"actorvault vault: the link socket '{linkPath}' is held by pid {peerPid} (uid {peerUid}), not by the parent {parentPid}; refused before reading anything.");
                return VaultProcessContract.ExitStartupFailed;
            }

            watch.WatchHangup((int)link.Handle, "the link socket");
            bootstrap = SecretDescriptors.ReadExactly((int)link.Handle, SessionKeys.BootstrapSize, "link socket");
            keys = SessionKeys.Derive(bootstrap);
        }
        catch (Exception e) when (e is SecretInputException or System.Net.Sockets.SocketException)
        {
            link.Dispose();
            Console.Error.WriteLine($"actorvault vault: no bootstrap secret on the link socket: {e.Message}");
            return VaultProcessContract.ExitStartupFailed;
        }

        Config config = ActorVaultConfig.ForVault(ConfigurationFactory.ParseString(rsaBits is { } bits ? $"actorvault.keystore.rsa-bits = {bits}" : string.Empty));

        // The keypair is made while the actor system starts (after the secure heap init: its private
        // numbers live there); the first keystore takes it.
        int keyBits = new Configuration.Settings(config, "actorvault").Int("keystore.rsa-bits");
        Task<System.Security.Cryptography.RSA> firstKey = VaultSettings.SupportedRsaBits.Contains(keyBits)
            ? Task.Run(() => KeystoreActor.NewKeypair(keyBits))
            : Task.FromException<System.Security.Cryptography.RSA>(new ArgumentException($"RSA key size {keyBits} is not supported."));

        VaultSettings settings;
        ActorSystem system;
        try
        {
            settings = VaultSettings.Create(config);
            system = ActorSystem.Create(Transport.LinkHandshake.VaultSystem, BootstrapSetup.Create().WithConfig(config).And(new Transport.LinkSockets(linkName, link)));
        }
        catch (Exception e) when (e is ConfigurationException or ArgumentException)
        {
            keys.Dispose();
            bootstrap.Dispose();
            Console.Error.WriteLine($"actorvault vault: {e.Message}");
            return VaultProcessContract.ExitStartupFailed;
        }

        Serialization.SessionKeyRing.For(system).Add(keys);
        CoordinatedShutdown shutdown = CoordinatedShutdown.Get(system);
        shutdown.AddTask(CoordinatedShutdown.PhaseBeforeServiceUnbind, "actorvault-cancel-reads", () =>
        {
            BlockingReads.For(system).CancelAll();
            return Task.FromResult(Akka.Done.Instance);
        });
        shutdown.AddTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate, "actorvault-zero-all", () =>
        {
            Serialization.SessionKeyRing.For(system).Clear();
            SecretMemory.ZeroAll("vault shutdown");
            return Task.FromResult(Akka.Done.Instance);
        });

        // SIGTERM, SIGINT, SIGHUP, SIGQUIT: zero at once (in the handler), then CoordinatedShutdown, then
        // exit with the conventional 128 + signal. Akka alone would leave SIGHUP and SIGQUIT unhandled
        // (the process dies with no cleanup) and exit 0 after SIGTERM/SIGINT.
        int signalled = 0;
        var registrations = new List<System.Runtime.InteropServices.PosixSignalRegistration>();
        foreach ((System.Runtime.InteropServices.PosixSignal signal, int number) in SignalNumbers)
        {
            registrations.Add(System.Runtime.InteropServices.PosixSignalRegistration.Create(signal, context =>
            {
                context.Cancel = true;
                if (Interlocked.CompareExchange(ref signalled, number, 0) == 0)
                {
                    int zeroed = SecretMemory.ZeroAll($"signal {number}");
                    Console.Error.WriteLine($"actorvault vault: signal {number} ({context.Signal}); {zeroed} secret buffer(s) zeroed; shutting down.");
                    _ = shutdown.Run(new SignalReason(number));
                }
            }));
        }

        // An unobserved task exception does not end the process (.NET's default), so it is reported,
        // not wiped for; if the runtime is configured to crash on it, UnhandledException below wipes.
        TaskScheduler.UnobservedTaskException += (_, e) =>
            Console.Error.WriteLine($"actorvault vault: unobserved task exception {e.Exception.InnerException?.GetType().Name ?? e.Exception.GetType().Name}.");

        AppDomain.CurrentDomain.UnhandledException += (_, e) =>
        {
            int zeroed = SecretMemory.ZeroAll("unhandled exception");
            Console.Error.WriteLine($"actorvault vault: unhandled {e.ExceptionObject.GetType().Name}; {zeroed} secret buffer(s) zeroed before the process dies.");
        };

        _ = system.ActorOf(VaultGuardian.Props(keys.Id, settings, firstKey), VaultGuardian.Name);

        // READY, tagged under the bootstrap: the parent trusts this link only when it checks.
        using (bootstrap)
        {
            Transport.LinkHandshake.SendReady(link, bootstrap, Environment.ProcessId, linkName);
        }

        int completed = Task.WaitAny(parentGone.Task, system.WhenTerminated);
        int exitCode;
        if (completed == 0 && Volatile.Read(ref signalled) == 0)
        {
            // The parent is gone (the watch already zeroed everything): shut down with a short leash.
            Console.Error.WriteLine($"actorvault vault: {parentGone.Task.Result}; secret memory zeroed; exiting.");
            _ = shutdown.Run(ParentGoneReason.Instance).Wait(ParentGoneLeash);
            exitCode = VaultProcessContract.ExitParentGone;
        }
        else
        {
            _ = system.WhenTerminated.Wait(TimeSpan.FromSeconds(5));
            SecretMemory.ZeroAll("vault actor system terminated");
            int signal = Volatile.Read(ref signalled);
            exitCode = signal == 0 ? 0 : 128 + signal;
        }

        foreach (System.Runtime.InteropServices.PosixSignalRegistration registration in registrations)
        {
            registration.Dispose();
        }

        HoldForTests(exitCode);
        return exitCode;
    }

    /// <summary>The signals the vault handles, with their numbers (x86_64 and arm64 Linux).</summary>
    private static readonly (System.Runtime.InteropServices.PosixSignal Signal, int Number)[] SignalNumbers =
    [
        (System.Runtime.InteropServices.PosixSignal.SIGTERM, 15),
        (System.Runtime.InteropServices.PosixSignal.SIGINT, 2),
        (System.Runtime.InteropServices.PosixSignal.SIGHUP, 1),
        (System.Runtime.InteropServices.PosixSignal.SIGQUIT, 3),
    ];

    /// <summary>
    /// Test-only (<c>ACTORVAULT_TEST_HOLD_AFTER_SHUTDOWN=1</c>): after shutdown and zeroing, say so on
    /// stdout and stay alive until stdin closes, so that a test can scan the process's memory.
    /// </summary>
    private static void HoldForTests(int exitCode)
    {
        if (Environment.GetEnvironmentVariable("ACTORVAULT_TEST_HOLD_AFTER_SHUTDOWN") != "1")
        {
            return;
        }

        string done = $"{VaultProcessContract.ShutdownDone} exit={exitCode}";
        Console.Out.WriteLine(done);
        Console.Out.Flush();
        Console.Error.WriteLine(done); // the application forwards stderr to its log
        Console.Error.Flush();
        _ = SecretDescriptors.WaitForEndOfInput(0);
    }
}
