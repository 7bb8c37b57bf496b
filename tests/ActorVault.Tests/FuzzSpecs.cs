using System.IO.Pipes;
using Akka.Actor;
using ActorVault.Crypto;
using ActorVault.Memory;
using ActorVault.Memory.Readers;
using ActorVault.Protocol;
using ActorVault.Serialization;
using ActorVault.Agent;
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
    public void AgentHeaders_Mutated_DecodeToAHeaderOrAProtocolError_AndValidOnesRoundTrip()
    {
        var random = new Random(Seed + 5);
        AgentHeader[] samples =
        [
            new(AgentKind.Lease, 7) { Name = "password", TtlMs = 30_000 },
            new(AgentKind.Granted, 7) { Name = "db.main", TtlMs = 600_000, LeaseId = Guid.NewGuid() },
            new(AgentKind.Failed, 9) { Error = AgentError.Locked, Message = "Secret 'password' is locked ✓." },
            new(AgentKind.Ok, 3) { Pid = 4321, Length = 17, Existed = true, Status = "host-pid=1\nstate=Unlocked" },
            new(AgentKind.WriteTo, 1) { Name = "x", Message = "sha256sum" },
            new(AgentKind.Revoked, 0) { LeaseId = Guid.NewGuid(), Message = "locked" },
        ];
        byte[] frame = new byte[AgentProtocol.PrefixBytes + AgentProtocol.MaxHeaderBytes];
        var encoded = new List<byte[]>();
        foreach (AgentHeader sample in samples)
        {
            int length = AgentProtocol.Encode(sample, 0, frame);
            byte[] body = frame[AgentProtocol.PrefixBytes..length];
            Assert.Equal(sample, AgentProtocol.Decode(body));
            Assert.Equal((body.Length, 0), AgentProtocol.ReadPrefix(frame));
            encoded.Add(body);
        }

        int decoded = 0, refused = 0;
        for (int i = 0; i < Cases; i++)
        {
            byte[] sample = encoded[random.Next(encoded.Count)];
            byte[] input = random.Next(4) switch
            {
                0 => Mutate(sample, random),
                1 => FlipBits(sample, random),
                2 => sample[..random.Next(0, sample.Length)],
                _ => Random(random, random.Next(0, 5000)),
            };
            try
            {
                AgentHeader header = AgentProtocol.Decode(input);
                Assert.True(Enum.IsDefined(header.Kind));
                Assert.True(header.Name is null || !header.Name.Contains('\0', StringComparison.Ordinal));
                Assert.True(header.Length is null or (>= 0 and <= AgentProtocol.MaxSecretBytes));
                decoded++;
            }
            catch (AgentProtocolException)
            {
                refused++;
            }

            byte[] prefix = Random(random, AgentProtocol.PrefixBytes);
            try
            {
                (int h, int secret) = AgentProtocol.ReadPrefix(prefix);
                Assert.InRange(h, 6, AgentProtocol.MaxHeaderBytes);
                Assert.InRange(secret, 0, AgentProtocol.MaxSecretBytes);
            }
            catch (AgentProtocolException)
            {
            }
        }

        Assert.Equal(Cases, decoded + refused);
        Assert.True(refused > 0 && decoded > 0);
        _output.WriteLine($"seed {Seed + 5}: {Cases} agent headers: {decoded} decoded (valid fields), {refused} protocol errors, 0 other exceptions");
    }

    [Fact]
    public async Task AgentSocket_RandomStreams_GiveFramesOrProtocolErrors_NeverOtherExceptions()
    {
        var random = new Random(Seed + 6);
        string dir = Directory.CreateTempSubdirectory("actorvault-fuzz-").FullName;
        string path = Path.Combine(dir, "s");
        using var listener = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        listener.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
        listener.Listen(4);
        int cases = Math.Max(50, Cases / 20), frames = 0, errors = 0;
        byte[] valid = new byte[AgentProtocol.PrefixBytes + AgentProtocol.MaxHeaderBytes];
        int validLength = AgentProtocol.Encode(new AgentHeader(AgentKind.Unlock, 1) { Name = "password" }, 3, valid);
        try
        {
            for (int i = 0; i < cases; i++)
            {
                byte[] stream = random.Next(3) switch
                {
                    0 => [.. valid[..validLength], 1, 2, 3],
                    1 => Mutate([.. valid[..validLength], 1, 2, 3], random),
                    _ => Random(random, random.Next(0, 300)),
                };
                using AgentSocket receiver = AgentSocket.Connect(path);
                using System.Net.Sockets.Socket sender = await listener.AcceptAsync();
                await sender.SendAsync(stream);
                sender.Shutdown(System.Net.Sockets.SocketShutdown.Send);
                try
                {
                    while (receiver.Receive() is { } frame)
                    {
                        using (frame)
                        {
                            Assert.True(frame.Secret is null || frame.Secret.Length <= AgentProtocol.MaxSecretBytes);
                            Assert.Equal(-1, frame.Descriptor);
                            frames++;
                        }
                    }
                }
                catch (AgentProtocolException)
                {
                    errors++;
                }
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }

        Assert.True(frames > 0 && errors > 0);
        _output.WriteLine($"seed {Seed + 6}: {cases} streams: {frames} frames, {errors} protocol errors, 0 other exceptions");
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
