using System.Diagnostics;
using System.Security.Cryptography;
using ActorVault.Memory;
using ActorVault.Memory.Readers;

namespace ActorVault.Host;

/// <summary>
/// <c>actorvault demo</c>: the secret-memory foundation end to end in one process: hardening, the
/// OpenSSL secure heap, a password read straight into locked memory, a wallet unlocked the safe way,
/// serializers refusing the secret, and every buffer zeroed at the end.
/// </summary>
internal static class DemoCommand
{
    private const int Calls = 10_000;

    internal static int Run(ReadOnlySpan<string> args)
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

        Section("Process hardening (before anything secret exists)");
        HardeningStatus hardening = ProcessHardening.Apply();
        Row("dumpable", hardening.Dumpable ? "yes (NOT hardened)" : "no: no core dumps, no ptrace or /proc/PID/mem by other processes of this user");
        Row("core file limit", $"{hardening.CoreLimitBytes} bytes");
        foreach (string problem in hardening.Problems)
        {
            Row("problem", problem);
        }

        Section("OpenSSL secure heap");
        SecureHeapStatus heap = OpenSslSecureHeap.Initialize();
        Row("initialized", $"{heap.Initialized} ({heap.SizeBytes} bytes), used {heap.UsedBytes} bytes");
        using (var rsa = RSA.Create(2048))
        {
            _ = rsa.ExportRSAPublicKey();
            Row("after an RSA-2048 key", $"{OpenSslSecureHeap.Status().UsedBytes} bytes used: the private key numbers live there");
        }

        Section("Reading the password");
        Row("source", SecretReaders.StandardInputIsTerminal ? "terminal (/dev/tty, echo off)" : "standard input (not a terminal)");
        using SecretBuffer password = SecretReaders.ReadFromTerminalOrStandardInput(new SecretReadOptions { Prompt = "Password: " });
        Row("read", $"{password.Length} bytes, straight into secret memory with read(2)");

        SecretMemoryStatus memory = SecretMemory.Status;
        Section("Secret memory");
        Row("backing", $"{memory.Backing}: {memory.BackingNote}");
        Row("locked", $"{memory.IsLocked}, {memory.LockedBytes} bytes in {memory.ArenaCount} arena(s) of {memory.SlotCount} slots; idle slots PROT_NONE: {memory.ProtectIdleSlots}");

        Section("A wallet unlocked the safe way");
        WalletExample(password);

        Section("Conversions refused");
        Row("ToString()", password.ToString());
        Row("System.Text.Json", Refusal(() => System.Text.Json.JsonSerializer.Serialize(password)));
        Row("Newtonsoft.Json", Refusal(() => Newtonsoft.Json.JsonConvert.SerializeObject(password)));

        Section($"Lending the bytes ({Calls} callback-scoped uses)");
        MeasureUse(password);

        password.Dispose();
        Section("Zeroed");
        Row("password buffer", password.IsZeroed ? "zeroed and released" : "STILL LIVE");
        Row("live secret buffers", SecretMemory.Status.LiveBuffers.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Console.WriteLine();
        Console.WriteLine("The vault child process, Akka.Remote and leases arrive with the next milestones; see README.");
        return SecretMemory.Status.LiveBuffers == 0 ? 0 : 1;
    }

    /// <summary>PBKDF2 key into secret memory, AES-GCM encrypt then decrypt of a demo wallet, key zeroed.</summary>
    private static void WalletExample(SecretBuffer password)
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
            using (SecretBuffer.Scope pw = password.Open())
            using (SecretBuffer.Scope k = key.Open())
            {
                Rfc2898DeriveBytes.Pbkdf2(pw.Bytes, salt, k.WritableBytes, iterations, HashAlgorithmName.SHA512);
            }

            using (SecretBuffer.Scope k = key.Open())
            using (var aes = new AesGcm(k.Bytes, tag.Length))
            {
                aes.Encrypt(nonce, wallet, sealedWallet, tag);
                aes.Decrypt(nonce, sealedWallet, tag, opened);
            }
        }
        finally
        {
            key.Dispose();
        }

        Row("derived key", $"PBKDF2-HMAC-SHA512, {iterations} rounds, 32 bytes in secret memory");
        Row("AES-256-GCM", $"sealed {wallet.Length} bytes, opened again: {(opened.AsSpan().SequenceEqual(wallet) ? "match" : "MISMATCH")}");
        Row("derived key zeroed", key.IsZeroed.ToString());
    }

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

    private static void MeasureUse(SecretBuffer password)
    {
        long[] ticks = new long[Calls];
        int sink = 0;
        for (int i = 0; i < Calls; i++)
        {
            long start = Stopwatch.GetTimestamp();
            sink += password.Use(static bytes => bytes[0]);
            ticks[i] = Stopwatch.GetTimestamp() - start;
        }

        Array.Sort(ticks);
        double median = ticks[Calls / 2] * 1e9 / Stopwatch.Frequency;
        GC.KeepAlive(sink);
        Row("median", $"{median:F0} ns per Use (in-process; the leased path over Akka.Remote comes later)");
    }

    private static void Section(string title) => Console.WriteLine($"\n== {title}");

    private static void Row(string label, string value) => Console.WriteLine($"  {label,-22} {value}");
}
