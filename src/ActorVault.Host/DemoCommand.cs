using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using ActorVault.Memory;
using ActorVault.Memory.Readers;

namespace ActorVault.Host;

/// <summary>
/// <c>actorvault demo</c>, the main job: starts the vault child process, reads a password (terminal
/// with echo off in the vault, or this process's stdin when it is not a terminal), and shows what
/// protects it: memory backing, secure heaps, a wallet unlocked inside a lease, conversions refused,
/// lease latency, and every buffer zeroed at the end.
/// </summary>
internal static class DemoCommand
{
    private const int Leases = 2_000;

    internal static async Task<int> RunAsync(string[] args)
    {
        string backing = args.Length >= 2 && args[0] == "--backing" ? args[1] : "auto";
        SecretMemory.Configure(new SecretMemoryOptions
        {
            Backing = backing switch
            {
                "memfd" => SecretMemoryBacking.MemfdSecret,
                "locked" => SecretMemoryBacking.LockedAnonymous,
                "auto" => SecretMemoryBacking.Auto,
                _ => throw new ArgumentException($"unknown backing '{backing}' (auto, memfd, locked)"),
            },
        });

        Section("This process (the application)");
        HardeningStatus hardening = ProcessHardening.Apply();
        Row("dumpable", hardening.Dumpable ? "yes (NOT hardened)" : "no: no core dumps, no ptrace or /proc/PID/mem by other processes of this user");

        var started = Stopwatch.StartNew();
        await using VaultClient vault = await VaultClient.StartAsync(new VaultClientOptions { VaultLog = static _ => { } });
        Section("The vault (a child process behind Akka.Remote on one private Unix socket)");
        Row("started", $"pid {vault.VaultPid} in {started.ElapsedMilliseconds} ms, {vault.State.ToString().ToLowerInvariant()}");

        Section("Reading the password");
        Row("source", SecretReaders.StandardInputIsTerminal
            ? "the terminal, read by the vault itself (/dev/tty, echo off): it never passes through this process"
            : "standard input (not a terminal): read(2) into secret memory here, sealed to the vault's public key, zeroed");
        int length = await vault.ReadInPasswordAsync("Password: ");
        Row("stored", $"{length} bytes, sealed in the vault (AES-256-GCM under a data key in secret memory)");

        VaultStatus status = await vault.GetStatusAsync();
        SecureHeapUsage vaultHeap = await vault.VerifyExpectedAllocationAsync();
        SecretMemoryStatus appMemory = SecretMemory.Status;
        SecureHeapStatus appHeap = OpenSslSecureHeap.Status();
        Section("Memory");
        Row("vault backing", $"{status.Backing}, {status.LockedBytes} bytes locked; hardened: {status.Hardened}");
        Row("application backing", $"{appMemory.Backing}, {appMemory.LockedBytes} bytes locked ({appMemory.BackingNote})");
        Row("vault secure heap", $"{vaultHeap.UsedBytes} of {vaultHeap.SizeBytes} bytes used: the RSA-{vaultHeap.KeyBits} private key lives there");
        Row("application heap", appHeap.Initialized ? $"{appHeap.UsedBytes} bytes used" : "not initialized: no private key in this process");

        Section("A wallet unlocked the safe way, inside a lease");
        string wallet = await vault.WithDecryptedPasswordAsync(lease => ValueTask.FromResult(WalletExample(lease)));
        Row("result", wallet);

        Section("Conversions refused");
        await vault.WithDecryptedPasswordAsync(lease =>
        {
            Row("lease.ToString()", lease.ToString());
            Row("System.Text.Json", Refusal(() => ReflectionJson(lease)));
            Row("Newtonsoft.Json", Refusal(() => NewtonsoftJson(lease)));
            return ValueTask.FromResult(0);
        });
        using (SecretBuffer probe = SecretMemory.Allocate(8))
        {
            Row("Akka serialization", Refusal(() => vault.LinkSystem.Serialization.FindSerializerFor(probe).ToBinary(probe)));
            Row("SecretBuffer", probe.ToString());
        }

        Section($"{Leases} leases over Akka.Remote");
        await MeasureAsync(vault);

        Section("Zeroed");
        Row("live leases", vault.LiveLeases.ToString(CultureInfo.InvariantCulture));
        int vaultPid = vault.VaultPid;
        await vault.StopAsync();
        int live = SecretMemory.Status.LiveBuffers;
        Row("application buffers", live == 0 ? "0 live: every lease buffer and both session keys zeroed" : $"{live} STILL LIVE");
        Row("vault", $"pid {vaultPid} told to stop (stdin closed): it zeroes everything and exits");
        return live == 0 ? 0 : 1;
    }

    /// <summary>PBKDF2 key into secret memory, AES-GCM encrypt then decrypt of a demo wallet, key zeroed.</summary>
    private static string WalletExample(SecretLease lease)
    {
        const int iterations = 210_000; // OWASP's figure for PBKDF2-HMAC-SHA512
        byte[] salt = RandomNumberGenerator.GetBytes(16);
        byte[] nonce = RandomNumberGenerator.GetBytes(AesGcm.NonceByteSizes.MaxSize);
        byte[] wallet = "demo wallet: 0.5 BTC to cold storage"u8.ToArray(); // public data: the demo wallet is not secret
        byte[] sealedWallet = new byte[wallet.Length];
        byte[] opened = new byte[wallet.Length];
        byte[] tag = new byte[AesGcm.TagByteSizes.MaxSize];

        SecretBuffer key = SecretMemory.Allocate(32);
        try
        {
            using (SecretBuffer.Scope k = key.Open())
            {
                Rfc2898DeriveBytes.Pbkdf2(lease.Bytes, salt, k.WritableBytes, iterations, HashAlgorithmName.SHA512);
                using var aes = new AesGcm(k.Bytes, tag.Length);
                aes.Encrypt(nonce, wallet, sealedWallet, tag);
                aes.Decrypt(nonce, sealedWallet, tag, opened);
            }
        }
        finally
        {
            key.Dispose();
        }

        bool match = opened.AsSpan().SequenceEqual(wallet);
        return $"PBKDF2-HMAC-SHA512 ({iterations} rounds) key in secret memory; AES-256-GCM sealed and opened {wallet.Length} bytes: {(match ? "match" : "MISMATCH")}; derived key zeroed: {key.IsZeroed}";
    }

    private static async Task MeasureAsync(VaultClient vault)
    {
        double[] lease = new double[Leases];
        double[] ask = new double[Leases];
        for (int i = 0; i < Leases; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            await vault.PingAsync();
            ask[i] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
            long t1 = Stopwatch.GetTimestamp();
            _ = await vault.WithDecryptedPasswordAsync(static l => ValueTask.FromResult(l.Length));
            lease[i] = Stopwatch.GetElapsedTime(t1).TotalMicroseconds;
        }

        Array.Sort(lease);
        Array.Sort(ask);
        Row("lease median / p99", $"{lease[Leases / 2]:F0} µs / {lease[Leases * 99 / 100]:F0} µs (acquire, open into secret memory, callback, zero, release)");
        Row("plain ask median", $"{ask[Leases / 2]:F0} µs (the floor: one round trip to the vault)");
    }

    /// <summary>What an application's careless reflection-based serialization would do: the lease's converter refuses it.</summary>
    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "The demo shows the refusal of reflection-based serialization on purpose; SecretLease and its converter are kept (ActorVault is rooted in the native build).")]
    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("AOT", "IL3050", Justification = "As above; the native build enables reflection-based System.Text.Json for this row.")]
    private static string ReflectionJson(SecretLease lease) => System.Text.Json.JsonSerializer.Serialize(lease);

    /// <summary>As <see cref="ReflectionJson"/>, with Newtonsoft.Json (Akka's own dependency).</summary>
    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "The demo shows the refusal on purpose; Newtonsoft.Json is rooted in the native build.")]
    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("AOT", "IL3050", Justification = "As above.")]
    private static string NewtonsoftJson(SecretLease lease) => Newtonsoft.Json.JsonConvert.SerializeObject(lease);

    private static string Refusal(Action serialize)
    {
        try
        {
            serialize();
            return "SERIALIZED (this is a bug)";
        }
        catch (NotSupportedException e)
        {
            return "refused: " + e.Message.Split(" Path:")[0];
        }
    }

    private static void Section(string title) => Console.WriteLine($"\n== {title}");

    private static void Row(string label, string value) => Console.WriteLine($"  {label,-22} {value}");
}
