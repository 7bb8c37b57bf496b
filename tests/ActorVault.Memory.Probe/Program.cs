using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using ActorVault.Memory;
using ActorVault.Memory.Interop;
using ActorVault.Memory.Readers;
using Microsoft.Win32.SafeHandles;

namespace ActorVault.Memory.Probe;

/// <summary>
/// Test probe. Writes its protocol lines straight to fd 1 (never through Console, which would take
/// over a terminal's modes). Modes:
///   hold      --backing B --source S [--max N] [--protect yes|no] [--release dispose|zeroall]
///   overrun   --backing B          write one byte past a buffer (must fault on the guard page)
///   stale     --backing B --protect yes|no   read a released slot through a kept pointer
///   target    --harden yes|no --marker TEXT  hold a public marker, hardened or not
///   attack    --harden yes|no      start a target child, try /proc/PID/mem and ptrace on it
///   secureheap                     OpenSSL secure heap before/after init and an RSA key
/// </summary>
internal static unsafe class Program
{
    private static readonly FileStream Stdout = new(new SafeFileHandle(1, ownsHandle: false), FileAccess.Write, 1);

    private static int Main(string[] args)
    {
        if (args.Contains("--reexec") && ProcessHardening.ReexecWithoutDiagnostics(args) is { } failed)
        {
            // As the actorvault executable does first thing: without crash-dump and diagnostics variables.
            Out($"CRASH re-exec failed: {failed}");
            return 70;
        }

        try
        {
            string mode = args.Length > 0 ? args[0] : "";
            return mode switch
            {
                "hold" => Hold(args),
                "overrun" => Overrun(args),
                "stale" => Stale(args),
                "target" => Target(args),
                "attack" => Attack(args),
                "secureheap" => SecureHeap(),
                _ => Usage(),
            };
        }
        catch (Exception e) when (e is not SecretInputException)
        {
            Out($"CRASH {e.GetType().Name}: {e.Message}");
            return 70;
        }
    }

    private static int Usage()
    {
        Out("usage: probe hold|overrun|stale|target|attack|secureheap …");
        return 64;
    }

    private static void Out(string line)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(line + "\n");
        Stdout.Write(bytes);
        Stdout.Flush();
    }

    private static string Arg(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    private static void ConfigureMemory(string[] args)
    {
        SecretMemoryBacking backing = Arg(args, "--backing", "auto") switch
        {
            "memfd" => SecretMemoryBacking.MemfdSecret,
            "locked" => SecretMemoryBacking.LockedAnonymous,
            _ => SecretMemoryBacking.Auto,
        };
        SecretMemory.Configure(new SecretMemoryOptions
        {
            Backing = backing,
            ProtectIdleSlots = Arg(args, "--protect", "no") == "yes",
            AllowUnlockedMemory = Arg(args, "--allow-unlocked", "no") == "yes",
        });
    }

    private static int Hold(string[] args)
    {
        ConfigureMemory(args);
        using var release = new SemaphoreSlim(0);
        using PosixSignalRegistration usr1 = PosixSignalRegistration.Create((PosixSignal)Libc.SIGUSR1, context =>
        {
            context.Cancel = true;
            if (Arg(args, "--release", "dispose") == "zeroall")
            {
                // Straight from the signal callback, as a crash or shutdown path would.
                int zeroed = SecretMemory.ZeroAll("SIGUSR1 in the probe");
                Out($"ZEROED count={zeroed}");
            }

            release.Release();
        });

        Out($"STARTED pid={Environment.ProcessId}");
        var options = new SecretReadOptions { MaxBytes = int.Parse(Arg(args, "--max", "4096"), System.Globalization.CultureInfo.InvariantCulture), Prompt = "Secret: " };
        string source = Arg(args, "--source", "pipe");
        SecretBuffer? secret = null;
        try
        {
            secret = source switch
            {
                "pipe" => SecretReaders.ReadFromStandardInput(options),
                "pipe-line" => SecretReaders.ReadFromStandardInput(options with { StopAtNewline = true }),
                "tty" => SecretReaders.ReadFromTerminal(options),
                _ when source.StartsWith("fd:", StringComparison.Ordinal) => SecretReaders.ReadFromFileDescriptor(int.Parse(source[3..], System.Globalization.CultureInfo.InvariantCulture), options),
                _ when source.StartsWith("file:", StringComparison.Ordinal) => SecretReaders.ReadFromFile(source[5..], options),
                _ when source.StartsWith("credential:", StringComparison.Ordinal) => SecretReaders.ReadSystemdCredential(source[11..], options),
                _ => throw new ArgumentException($"unknown source {source}"),
            };
        }
        catch (SecretInputException e)
        {
            Collect();
            Out($"FAILED pid={Environment.ProcessId} error={e.Error} live={SecretMemory.Status.LiveBuffers} message={e.Message}");
            release.Wait();
            return 3;
        }

        SecretArena arena = secret.Handle.Arena;
        SecretMemoryStatus status = SecretMemory.Status;
        string digest = secret.Use(static bytes =>
        {
            Span<byte> hash = stackalloc byte[32];
            SHA256.HashData(bytes, hash);
            return Convert.ToHexStringLower(hash);
        });
        Out($"READY pid={Environment.ProcessId} sha256={digest} data={secret.Address:x} length={secret.Length} slot={arena.SlotAddress(secret.Handle.Slot):x} slotBytes={arena.SlotBytes} backing={status.Backing} locked={status.IsLocked}");

        release.Wait();
        if (Arg(args, "--release", "dispose") == "dispose")
        {
            secret.Dispose();
        }

        Collect();
        Out($"DISPOSED live={SecretMemory.Status.LiveBuffers} zeroed={secret.IsZeroed}");
        release.Wait();
        return 0;
    }

    private static void Collect()
    {
        for (int i = 0; i < 2; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
    }

    private static int Overrun(string[] args)
    {
        ConfigureMemory(args);
        using SecretBuffer secret = SecretMemory.Allocate(64);
        byte* data = (byte*)secret.Address;
        Out("ARMED");
        data[64] = 1; // one past the end: the guard page
        Out("SURVIVED");
        return 0;
    }

    private static int Stale(string[] args)
    {
        ConfigureMemory(args);
        SecretBuffer secret = SecretMemory.Allocate(64);
        byte* data = (byte*)secret.Address;
        secret.Dispose();
        Out("ARMED");
        byte value = data[0];
        Out($"READ value={value}");
        return 0;
    }

    private static int Target(string[] args)
    {
        if (Arg(args, "--harden", "yes") == "yes")
        {
            HardeningStatus status = ProcessHardening.Apply();
            if (!status.IsHardened)
            {
                Out($"CRASH hardening failed: {string.Join("; ", status.Problems)}");
                return 70;
            }
        }

        byte[] marker = Encoding.ASCII.GetBytes(Arg(args, "--marker", "public-marker"));
        GCHandle pinned = GCHandle.Alloc(marker, GCHandleType.Pinned);
        Out($"READY pid={Environment.ProcessId} addr={pinned.AddrOfPinnedObject():x} length={marker.Length} dumpable={ProcessHardening.Status().Dumpable}");
        // Stay until the parent closes our stdin.
        byte one;
        while (Libc.read(0, &one, 1) > 0)
        {
        }

        pinned.Free();
        return 0;
    }

    private static int Attack(string[] args)
    {
        string self = typeof(Program).Assembly.Location;
        string marker = "marker-" + Guid.NewGuid().ToString("N");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string a in new[] { self, "target", "--harden", Arg(args, "--harden", "yes"), "--marker", marker })
        {
            info.ArgumentList.Add(a);
        }

        using Process target = Process.Start(info)!;
        string? ready = target.StandardOutput.ReadLine();
        if (ready is null || !ready.StartsWith("READY", StringComparison.Ordinal))
        {
            Out($"CRASH target said: {ready}");
            return 70;
        }

        Dictionary<string, string> fields = ready.Split(' ').Skip(1).Select(f => f.Split('=')).ToDictionary(f => f[0], f => f[1]);
        int pid = int.Parse(fields["pid"], System.Globalization.CultureInfo.InvariantCulture);
        long addr = long.Parse(fields["addr"], System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
        Out($"TARGET pid={pid} dumpable={fields["dumpable"]} uid={Libc.geteuid()}");

        try
        {
            using SafeFileHandle mem = File.OpenHandle($"/proc/{pid}/mem", FileMode.Open, FileAccess.Read);
            byte[] read = new byte[marker.Length];
            int n = RandomAccess.Read(mem, read, addr);
            Out(n == read.Length && read.AsSpan().SequenceEqual(Encoding.ASCII.GetBytes(marker)) ? "MEM=read" : $"MEM=short:{n}");
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            Out($"MEM=denied:{e.GetType().Name}");
        }

        long attached = Libc.ptrace(Libc.PTRACE_ATTACH, pid, 0, 0);
        Out(attached == 0 ? "PTRACE=attached" : $"PTRACE=denied:{Libc.Describe(Marshal.GetLastPInvokeError())}");
        target.Kill();
        target.WaitForExit();
        return 0;
    }

    private static int SecureHeap()
    {
        SecureHeapStatus before = OpenSslSecureHeap.Status();
        Out($"BEFORE initialized={before.Initialized} used={before.UsedBytes}");
        SecureHeapStatus initialized = OpenSslSecureHeap.Initialize();
        Out($"INIT initialized={initialized.Initialized} size={initialized.SizeBytes} used={initialized.UsedBytes}");
        using var rsa = RSA.Create(2048);
        _ = rsa.ExportRSAPublicKey(); // forces key generation
        SecureHeapStatus after = OpenSslSecureHeap.Status();
        Out($"AFTER initialized={after.Initialized} used={after.UsedBytes}");
        return 0;
    }
}
