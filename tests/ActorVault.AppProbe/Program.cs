using System.Globalization;
using System.Security.Cryptography;
using ActorVault;
using ActorVault.Memory;
using ActorVault.Memory.Readers;

// Protocol (stdout, one line each): APP-READY pid=… vault=…, UNLOCKED length=…, STATE …, STATUS …,
// OPENED sha256=…, PENDING, PENDING-FAILED ms=… type=… message=…, ERROR type=… message=…, BYE.
// Commands (stdin lines): status | open NAME | leak NAME (test control: keeps a string copy) | pending-read PATH | lock NAME |
// lease-seq N | lease-par N INFLIGHT | lease-hold N (N leases held until they end; HOLD-ENDED type=… each) | crash (unhandled exception) (leases of the --name secret; prints the distinct SHA-256 digests seen) | quit.
// --unlock stdin: the first stdin line is the secret, read byte by byte with read(2) into secret memory.
if (args is ["scan", string scanPid, string patternFile])
{
    // For tools/security-behavior.sh: count copies of the secret in another process's memory (root).
    ActorVault.Testing.ScanResult scan = ActorVault.Testing.MemoryScanner.Scan(int.Parse(scanPid, CultureInfo.InvariantCulture), ActorVault.Testing.SecretPattern.FromText(File.ReadAllText(patternFile).Trim()));
    Console.WriteLine($"SCAN total={scan.Total} utf8={scan.Utf8} utf16={scan.Utf16} base64={scan.Base64} bytes={scan.BytesScanned}");
    return 0;
}

if (args is ["listen", string listenPath])
{
    // An impostor that took over a vault's rendezvous path: it offers a bootstrap of its own.
    using var listener = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
    listener.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(listenPath));
    listener.Listen(1);
    Console.WriteLine("LISTENING");
    using System.Net.Sockets.Socket victim = listener.Accept();
    try
    {
        victim.Send(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
    }
    catch (System.Net.Sockets.SocketException)
    {
        // already closed by the vault
    }

    victim.ReceiveTimeout = 60_000;
    int got = 0;
    try
    {
        byte[] buffer = new byte[512];
        int n;
        while ((n = victim.Receive(buffer)) > 0)
        {
            got += n;
        }
    }
    catch (System.Net.Sockets.SocketException)
    {
        // reset: closed
    }

    Console.WriteLine($"GOT {got}");
    return 0;
}

if (args is ["attack", string attackPid])
{
    // As a process of the same user: try the target's memory, descriptors, environment and ptrace.
    foreach (string line in ActorVault.Testing.SameUserAttack.Run(int.Parse(attackPid, CultureInfo.InvariantCulture)))
    {
        Console.WriteLine(line);
    }

    return 0;
}

string unlock = "none";
string name = "main";
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--unlock": unlock = args[++i]; break;
        case "--name": name = args[++i]; break;
        case "--backing":
            // Readable by root through /proc/PID/mem (memfd_secret is not): lets a scan see a live lease.
            SecretMemory.Configure(new SecretMemoryOptions { Backing = args[++i] == "locked" ? SecretMemoryBacking.LockedAnonymous : SecretMemoryBacking.Auto });
            break;
        default: Console.Error.WriteLine($"appprobe: unknown argument {args[i]}"); return 2;
    }
}

void Say(string line)
{
    lock (Console.Out)
    {
        Console.Out.WriteLine(line);
        Console.Out.Flush();
    }
}

VaultClient client;
try
{
    client = await VaultClient.StartAsync(new VaultClientOptions { VaultLog = line => Console.Error.WriteLine($"[vault] {line}") });
}
catch (VaultStartupException e)
{
    Say($"ERROR type={e.GetType().Name} message={e.Message.ReplaceLineEndings(" | ")}");
    return 3;
}

client.StateChanged += (_, e) => Say($"STATE {e.State} pid={e.VaultPid} reason={e.Reason}");
Say($"APP-READY pid={Environment.ProcessId} vault={client.VaultPid}");

try
{
    if (unlock == "stdin")
    {
        SecretBuffer secret = SecretReaders.ReadFromFileDescriptor(0, new SecretReadOptions { StopAtNewline = true });
        int length = secret.Length;
        await client.SetSecretAsync(name, secret);
        Say($"UNLOCKED length={length}");
    }
    else if (unlock is "tty" or "tty-confirm")
    {
        int length = await client.ReadSecretAsync(name, new SecretSource.Terminal("Vault password: ", Confirm: unlock == "tty-confirm", ConfirmPrompt: "Once more: "));
        Say($"UNLOCKED length={length}");
    }
    else if (unlock.StartsWith("file:", StringComparison.Ordinal))
    {
        int length = await client.ReadSecretAsync(name, new SecretSource.File(unlock["file:".Length..]));
        Say($"UNLOCKED length={length}");
    }
    else if (unlock.StartsWith("cred:", StringComparison.Ordinal))
    {
        int length = await client.ReadSecretAsync(name, new SecretSource.SystemdCredential(unlock["cred:".Length..]));
        Say($"UNLOCKED length={length}");
    }
    else if (unlock.StartsWith("fd:", StringComparison.Ordinal))
    {
        int length = await client.ReadSecretAsync(name, new SecretSource.FileDescriptor(int.Parse(unlock["fd:".Length..], CultureInfo.InvariantCulture)));
        Say($"UNLOCKED length={length}");
    }
}
catch (Exception e) when (e is VaultOperationException or SecretInputException or VaultUnavailableException)
{
    Say($"ERROR type={e.GetType().Name} message={e.Message}");
}

while (Console.In.ReadLine() is { } command)
{
    string[] parts = command.Split(' ', 2);
    try
    {
        switch (parts[0])
        {
            case "status":
                VaultStatus s = await client.GetStatusAsync();
                SecureHeapStatus appHeap = OpenSslSecureHeap.Status();
                Say($"STATUS state={s.State} vault={s.VaultPid} heapUsed={s.SecureHeapUsedBytes} appHeapUsed={appHeap.UsedBytes} appHeapInit={appHeap.Initialized} backing={s.Backing} hardened={s.Hardened} secrets={string.Join(',', s.Secrets)} restarts={s.Restarts}");
                break;
            case "open":
                using (SecretBuffer opened = await client.OpenSecretAsync(parts[1]))
                {
                    string digest = opened.Use(static span => Convert.ToHexString(SHA256.HashData(span)));
                    Say($"OPENED sha256={digest}");
                }

                break;
            case "pending-read":
                var started = System.Diagnostics.Stopwatch.StartNew();
                Task<int> pending = client.ReadSecretAsync("pending", new SecretSource.File(parts[1]));
                Say("PENDING");
                _ = pending.ContinueWith(t => Say(t.IsFaulted
                    ? $"PENDING-FAILED ms={started.ElapsedMilliseconds} type={t.Exception!.InnerException!.GetType().Name} message={t.Exception.InnerException.Message}"
                    : $"PENDING-DONE ms={started.ElapsedMilliseconds}"), TaskScheduler.Default);
                break;
            case "leak":
                // Negative control for the scans: the dangerous pattern, a managed string copy kept alive.
                using (SecretBuffer opened = await client.OpenSecretAsync(parts[1]))
                {
                    Leaked.Strings.Add(opened.Use(static span => System.Text.Encoding.UTF8.GetString(span)));
                }

                Say("LEAKED");
                break;
            case "lease-seq":
            case "lease-par":
                string[] a = parts[1].Split(' ');
                int total = int.Parse(a[0], CultureInfo.InvariantCulture);
                int inFlight = parts[0] == "lease-par" ? int.Parse(a[1], CultureInfo.InvariantCulture) : 1;
                var digests = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
                int next = 0;
                await Task.WhenAll(Enumerable.Range(0, inFlight).Select(async _ =>
                {
                    while (Interlocked.Increment(ref next) <= total)
                    {
                        string d = await client.WithSecretAsync(name, static span => Convert.ToHexString(SHA256.HashData(span)));
                        digests.AddOrUpdate(d, 1, (_, n) => n + 1);
                    }
                }));
                Say($"LEASED n={digests.Values.Sum()} distinct={digests.Count} sha256={digests.Keys.First()} live={client.LiveLeases} buffers={SecretMemory.Status.LiveBuffers}");
                break;
            case "lease-hold":
                int holders = int.Parse(parts[1], CultureInfo.InvariantCulture);
                using (var allHeld = new CountdownEvent(holders))
                {
                    for (int h = 0; h < holders; h++)
                    {
                        _ = Task.Run(async () =>
                        {
                            try
                            {
                                await client.WithSecretAsync(name, async lease =>
                                {
                                    var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                                    using (lease.Ended.Register(() => ended.SetResult()))
                                    {
                                        allHeld.Signal();
                                        await ended.Task;
                                    }

                                    lease.Use(static _ => { });
                                    return 0;
                                }, new LeaseOptions { Ttl = TimeSpan.FromMinutes(5) });
                                Say("HOLD-ENDED type=none");
                            }
                            catch (Exception e)
                            {
                                Say($"HOLD-ENDED type={e.GetType().Name}");
                            }
                        });
                    }

                    allHeld.Wait();
                }

                Say($"HOLDING {holders}");
                break;
            case "crash":
                // An unhandled exception on another thread: the process dies (SIGABRT).
                new Thread(() => throw new InvalidOperationException("appprobe crash test")).Start();
                break;
            case "lock":
                Say($"LOCKED existed={await client.LockSecretAsync(parts[1])}");
                break;
            case "quit":
                await client.DisposeAsync();
                Say("BYE");
                return 0;
            default:
                Say($"ERROR type=Unknown message=unknown command {parts[0]}");
                break;
        }
    }
    catch (Exception e) when (e is VaultOperationException or SecretInputException or VaultUnavailableException or TimeoutException)
    {
        Say($"ERROR type={e.GetType().Name} message={e.Message}");
    }
}

await client.DisposeAsync();
Say("BYE");
return 0;

internal static class Leaked
{
    public static readonly List<string> Strings = [];
}
