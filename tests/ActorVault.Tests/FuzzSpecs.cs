using System.IO.Pipes;
using Akka.Actor;
using ActorVault.Crypto;
using ActorVault.Memory;
using ActorVault.Memory.Readers;
using ActorVault.Protocol;
using ActorVault.Serialization;
using ActorVault.Standalone;
using Xunit.Abstractions;

namespace ActorVault.Tests;

/// <summary>
/// Seeded, reproducible fuzzing of every parser that takes bytes from outside the process. CI runs a
/// bounded number of cases (ACTORVAULT_FUZZ_CASES overrides, ACTORVAULT_FUZZ_SEED reproduces a run);
/// each test reports its seed and counts.
/// </summary>
public sealed class FuzzSpecs : Akka.TestKit.Xunit2.TestKit
{
    private static readonly int Cases = int.TryParse(Environment.GetEnvironmentVariable("ACTORVAULT_FUZZ_CASES"), out int n) ? n : 3000;
    private static readonly int Seed = int.TryParse(Environment.GetEnvironmentVariable("ACTORVAULT_FUZZ_SEED"), out int s) ? s : 20261128;
    private readonly ITestOutputHelper _output;
    private readonly ActorSystem _vaultSide;
    private readonly SessionKeys _clientKeys;

    public FuzzSpecs(ITestOutputHelper output)
        : base(SpecConfig.Client)
    {
        _output = output;
        _vaultSide = ActorSystem.Create("fuzz-vault", SpecConfig.Vault);
        using SecretBuffer bootstrap = SessionKeys.NewBootstrap();
        _clientKeys = SessionKeys.Derive(bootstrap);
        SessionKeyRing.For(Sys).Add(_clientKeys);
        SessionKeyRing.For(_vaultSide).Add(SessionKeys.Derive(bootstrap));
    }

    [Fact]
    public async Task HostAdmission_MutatedFirstFrames_OpenNoSession_NeverThrow()
    {
        var random = new Random(Seed + 7);
        ActorSystem hostSide = ActorSystem.Create("fuzz-host", SpecConfig.Vault);
        ActorSystem clientSide = ActorSystem.Create("fuzz-host-client", SpecConfig.Client);
        try
        {
            SecretBuffer clientKey = Aead.NewKey();
            SessionKeyRing ring = SessionKeyRing.For(hostSide);
            using SecretBuffer copy = SecretMemory.Allocate(32);
            using (SecretBuffer.Scope from = clientKey.Open())
            using (SecretBuffer.Scope to = copy.Open())
            {
                from.Bytes.CopyTo(to.WritableBytes);
            }

            using var sessions = new HostSessions(clientKey, ring, maxSessions: 4, clockSkew: TimeSpan.FromMinutes(2));
            ring.Admission = sessions;
            var host = new EnvelopeSerializer((ExtendedActorSystem)hostSide);
            var client = new EnvelopeSerializer((ExtendedActorSystem)clientSide);
            SessionKeyRing clientRing = SessionKeyRing.For(clientSide);
            int refused = 0;
            for (int i = 0; i < Cases; i++)
            {
                // A fresh session per case: its first frame, mutated, must never open it.
                SessionKeys keys = SessionKeys.DeriveHostSession(copy, SessionKeys.NewHostSessionId(DateTimeOffset.UtcNow));
                clientRing.Add(keys);
                byte[] valid = client.ToBinary(new VaultEnvelope(keys.Id, new HostLease(Guid.NewGuid(), "password", random.Next())));
                clientRing.Remove(keys.Id);
                byte[] frame = Mutate(valid, random);
                Assert.IsType<RejectedEnvelope>(host.FromBinary(frame, "E1"));
                refused++;
            }

            Assert.Equal(0, ring.Count);
            Assert.Equal(0, sessions.Open);
            _output.WriteLine($"seed {Seed + 7}: {Cases} mutated first frames of new host sessions, {refused} refused, 0 sessions opened, 0 exceptions");
        }
        finally
        {
            await Task.WhenAll(hostSide.Terminate(), clientSide.Terminate());
        }
    }

    [Fact]
    public void EnvelopeFrames_Mutated_AreAllRefused_NeverThrow()
    {
        var random = new Random(Seed);
        var client = new EnvelopeSerializer((ExtendedActorSystem)Sys);
        var vault = new EnvelopeSerializer((ExtendedActorSystem)_vaultSide);
        int refused = 0;
        for (int i = 0; i < Cases; i++)
        {
            byte[] valid = client.ToBinary(new VaultEnvelope(_clientKeys.Id, new AcquireLease(Guid.NewGuid(), "main", random.Next())));
            byte[] frame = Mutate(valid, random);
            object result = vault.FromBinary(frame, "E1");
            Assert.IsType<RejectedEnvelope>(result);
            refused++;
        }

        _output.WriteLine($"seed {Seed}: {Cases} mutated envelope frames, {refused} refused, 0 accepted, 0 exceptions");
    }

    [Fact]
    public void ProtocolBodies_MutatedHyperionBytes_FailCleanly()
    {
        var random = new Random(Seed + 1);
        var serializer = new ProtocolSerializer((ExtendedActorSystem)Sys);
        object[] samples =
        [
            new AcquireLease(Guid.NewGuid(), "main", 30_000), new SetSecret(Guid.NewGuid(), "n", new PublicKeySealed([1, 2], [3], [4], [5], [6])),
            new VaultStatusReply(Guid.NewGuid(), 1, new KeystoreInfo(2048, [1], 1, 2, 3), new MemoryInfo("MemfdSecret", 1, 2, true), ["a", "b"]),
            new LeaseGranted(Guid.NewGuid(), Guid.NewGuid(), "n", 1, [1], [2], [3]),
        ];
        int decoded = 0, refused = 0;
        for (int i = 0; i < Cases; i++)
        {
            byte[] valid = serializer.ToBinary(samples[i % samples.Length]);
            byte[] bytes = FlipBits(valid, random); // same length: keeps the run bounded in memory
            try
            {
                object result = serializer.FromBinary(bytes, typeof(object));
                Assert.True(ProtocolTypes.IsAllowed(result.GetType()), $"decoded a type off the allow-list: {result.GetType()}");
                decoded++;
            }
            catch (Exception e) when (e is not OutOfMemoryException and not StackOverflowException and not AccessViolationException)
            {
                refused++;
            }
        }

        _output.WriteLine($"seed {Seed + 1}: {Cases} mutated bodies: {decoded} decoded to allowed types, {refused} refused, 0 crashes");
    }

    [Fact]
    public void Refusals_RandomBytes_DecodeOrFailWithSerializationException()
    {
        var random = new Random(Seed + 2);
        var refusal = new RefusalSerializer((ExtendedActorSystem)Sys);
        int ok = 0, refused = 0;
        for (int i = 0; i < Cases; i++)
        {
            byte[] bytes = new byte[random.Next(0, 600)];
            random.NextBytes(bytes);
            try
            {
                Assert.IsType<Refused>(refusal.FromBinary(bytes, random.Next(4) == 0 ? "X" : "R1"));
                ok++;
            }
            catch (System.Runtime.Serialization.SerializationException)
            {
                refused++;
            }
        }

        _output.WriteLine($"seed {Seed + 2}: {Cases} refusal frames: {ok} decoded, {refused} refused");
    }

    [Fact]
    public void HyperionTypeFilter_RandomAndGadgetNames_OnlyOurTypesPass()
    {
        string[] gadgets =
        [
            "System.Windows.Data.ObjectDataProvider, PresentationFramework", "System.Diagnostics.Process, System.Diagnostics.Process",
            "System.IO.FileInfo, System.Private.CoreLib", "System.Data.DataSet, System.Data", "System.Security.Claims.ClaimsIdentity, System.Security.Claims",
            "System.Collections.Generic.SortedSet`1[[System.String, System.Private.CoreLib]], System.Collections",
            "ActorVault.Protocol.Hello, ActorVault.Evil", "ActorVault.Vault.KeystoreActor, ActorVault", "ActorVault.Memory.SecretBuffer, ActorVault.Memory",
        ];
        Assert.All(gadgets, g => Assert.False(ProtocolTypes.IsAllowedName(g), g));
        var random = new Random(Seed + 3);
        const string alphabet = "ActorVault.Protocol.HelloSystem,`[] 0123456789";
        int allowed = 0;
        for (int i = 0; i < Cases; i++)
        {
            char[] name = new char[random.Next(0, 80)];
            for (int c = 0; c < name.Length; c++)
            {
                name[c] = alphabet[random.Next(alphabet.Length)];
            }

            if (ProtocolTypes.IsAllowedName(new string(name)))
            {
                allowed++;
            }
        }

        Assert.Equal(0, allowed);
        _output.WriteLine($"seed {Seed + 3}: {Cases} random type names + {gadgets.Length} gadget names, 0 allowed");
    }

    [Fact]
    public void BootstrapReader_RandomChunksAndEarlyEnd_ExactSecretOrClearError()
    {
        var random = new Random(Seed + 4);
        int cases = Math.Min(Cases, 500), read = 0, refused = 0;
        for (int i = 0; i < cases; i++)
        {
            int total = random.Next(0, 48);
            byte[] data = new byte[total];
            random.NextBytes(data);
            // The read end stays open; the write end is closed after the data: an early end of input.
            using var pipe = new AnonymousPipeServerStream(PipeDirection.In);
            using (var writer = new AnonymousPipeClientStream(PipeDirection.Out, pipe.ClientSafePipeHandle))
            {
                writer.Write(data);
            }

            pipe.DisposeLocalCopyOfClientHandle();
            int fd = (int)pipe.SafePipeHandle.DangerousGetHandle();
            try
            {
                using SecretBuffer buffer = SecretDescriptors.ReadExactly(fd, 32, "fuzz pipe");
                Assert.True(total >= 32);
                Assert.True(buffer.FixedTimeEquals(data.AsSpan(0, 32)));
                read++;
            }
            catch (SecretInputException e)
            {
                Assert.True(total < 32, e.Message);
                Assert.True(e.Error is SecretInputError.Empty or SecretInputError.IoError or SecretInputError.DescriptorClosed);
                refused++;
            }
        }

        _output.WriteLine($"seed {Seed + 4}: {cases} bootstrap streams: {read} read exactly, {refused} clear errors");
    }

    [Fact]
    public void HostInfoFile_Mutated_ParsesToAValidInfoOrAClearError()
    {
        var random = new Random(Seed + 5);
        byte[] key = new byte[32];
        random.NextBytes(key);
        byte[] valid = System.Text.Encoding.ASCII.GetBytes(
            $"{HostInfoFile.Magic}\naddress={HostInfoFile.AddressPrefix}41234\npid=4321\nkey={Convert.ToHexStringLower(key)}\n");

        using (HostInfo info = HostInfoFile.Parse(valid, "valid"))
        {
            Assert.Equal($"{HostInfoFile.AddressPrefix}41234", info.Address);
            Assert.Equal(4321, info.HostPid);
            Assert.True(info.ClientKey.Use(bytes => bytes.SequenceEqual(key)));
        }

        byte[] tlsValid = System.Text.Encoding.ASCII.GetBytes(
            $"{HostInfoFile.Magic}\naddress={HostInfoFile.TlsAddressPrefix}41234\npid=4321\ntls-host={Convert.ToHexStringLower(key)}\n" +
            $"tls-cert={Convert.ToHexStringLower(Random(random, 320))}\nkey={Convert.ToHexStringLower(key)}\ntls-key={Convert.ToHexStringLower(Random(random, 138))}\n");
        using (HostInfo info = HostInfoFile.Parse(tlsValid, "valid TLS"))
        {
            Assert.NotNull(info.Tls);
            Assert.Equal(138, info.Tls.ClientPrivateKey.Length);
        }

        int parsed = 0, refused = 0;
        for (int i = 0; i < Cases; i++)
        {
            byte[] sample = random.Next(2) == 0 ? valid : tlsValid;
            byte[] input = random.Next(4) switch
            {
                0 => Mutate(sample, random),
                1 => FlipBits(sample, random),
                2 => Lines(sample, random),
                _ => Random(random, random.Next(0, 5000)),
            };
            try
            {
                using HostInfo info = HostInfoFile.Parse(input, "fuzz");
                Assert.True(info.Address.StartsWith(HostInfoFile.AddressPrefix, StringComparison.Ordinal) || (info.Address.StartsWith(HostInfoFile.TlsAddressPrefix, StringComparison.Ordinal) && info.Tls is not null));
                Assert.True(info.HostPid > 0);
                Assert.Equal(32, info.ClientKey.Length);
                parsed++;
            }
            catch (HostConnectionException e)
            {
                Assert.Contains("is not an actorvault host info file", e.Message, StringComparison.Ordinal);
                refused++;
            }
        }

        Assert.Equal(Cases, parsed + refused);
        Assert.True(refused > 0);
        _output.WriteLine($"seed {Seed + 5}: {Cases} info files: {parsed} parsed (valid fields), {refused} clear errors, 0 other exceptions");
    }

    [Fact]
    public void CommandLine_RandomArguments_ParseOrGiveErrors_NeverThrow()
    {
        var random = new Random(Seed + 6);
        string[] vocabulary =
        [
            "serve", "exec", "status", "unlock", "lock", "stop", "demo", "vault", "--", "-", "--secret", "--fd", "--ttl", "--json",
            "--info-file", "--password-stdin", "--password-fd", "--password-file", "--password-credential", "--no-unlock",
            "--confirm", "--rsa-bits", "--backing", "--help", "-h", "-?", "--version", "@response", "0", "3", "-1", "1024",
            "99999999999", "password", "bad name!", "", " ", "\0", "é", "😀", "sh", "-c", "cat", "=", "--fd=3", "--secret=",
        ];
        System.CommandLine.RootCommand root = ActorVault.Host.Cli.Build();
        int ok = 0, errors = 0;
        for (int i = 0; i < Cases; i++)
        {
            string[] args = new string[random.Next(0, 9)];
            for (int j = 0; j < args.Length; j++)
            {
                args[j] = random.Next(6) == 0 ? RandomText(random) : vocabulary[random.Next(vocabulary.Length)];
            }

            System.CommandLine.ParseResult result = root.Parse(args, new System.CommandLine.ParserConfiguration { ResponseFileTokenReplacer = null });
            if (result.Errors.Count > 0)
            {
                Assert.All(result.Errors, e => Assert.False(string.IsNullOrWhiteSpace(e.Message)));
                errors++;
            }
            else
            {
                ok++;
            }
        }

        Assert.True(errors > 0 && ok > 0);
        _output.WriteLine($"seed {Seed + 6}: {Cases} command lines: {ok} well formed, {errors} with errors, 0 exceptions");
    }

    private static byte[] Lines(byte[] valid, Random random)
    {
        // Reorder, duplicate or drop whole lines.
        var lines = System.Text.Encoding.ASCII.GetString(valid).Split('\n').ToList();
        switch (random.Next(3))
        {
            case 0:
                lines.Insert(random.Next(lines.Count), lines[random.Next(lines.Count)]);
                break;
            case 1:
                lines.RemoveAt(random.Next(lines.Count));
                break;
            default:
                int a = random.Next(lines.Count), b = random.Next(lines.Count);
                (lines[a], lines[b]) = (lines[b], lines[a]);
                break;
        }

        return System.Text.Encoding.ASCII.GetBytes(string.Join('\n', lines));
    }

    private static byte[] Random(Random random, int length)
    {
        byte[] bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static string RandomText(Random random)
    {
        char[] chars = new char[random.Next(0, 12)];
        for (int i = 0; i < chars.Length; i++)
        {
            chars[i] = (char)random.Next(1, 0x3000);
        }

        return new string(chars);
    }

    protected override void AfterAll()
    {
        _vaultSide.Terminate().Wait(TimeSpan.FromSeconds(10));
        base.AfterAll();
    }

    private static byte[] Mutate(byte[] valid, Random random)
    {
        switch (random.Next(5))
        {
            case 0:
                return FlipBits(valid, random);
            case 1:
                return valid[..random.Next(0, valid.Length)]; // truncated
            case 2:
                byte[] longer = new byte[valid.Length + random.Next(1, 64)];
                valid.CopyTo(longer, 0);
                random.NextBytes(longer.AsSpan(valid.Length));
                return longer;
            case 3:
                byte[] noise = new byte[random.Next(0, 256)];
                random.NextBytes(noise);
                return noise;
            default:
                byte[] swapped = [.. valid];
                int a = random.Next(swapped.Length), b = random.Next(swapped.Length);
                (swapped[a], swapped[b]) = (swapped[b], swapped[a]);
                if (swapped.AsSpan().SequenceEqual(valid))
                {
                    swapped[a] ^= 0x01;
                }

                return swapped;
        }
    }

    private static byte[] FlipBits(byte[] valid, Random random)
    {
        byte[] bytes = [.. valid];
        int flips = random.Next(1, 8);
        for (int f = 0; f < flips; f++)
        {
            bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
        }

        if (bytes.AsSpan().SequenceEqual(valid))
        {
            bytes[0] ^= 0x80;
        }

        return bytes;
    }
}
