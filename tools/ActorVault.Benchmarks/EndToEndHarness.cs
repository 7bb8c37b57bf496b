using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using ActorVault.Memory;

namespace ActorVault.Benchmarks;

/// <summary>
/// The end-to-end harness: a real application (this process) and a real vault child over
/// Akka.Remote. <c>dotnet run -c Release --project tools/ActorVault.Benchmarks -- e2e --json</c>
/// prints one JSON object: lease latency (p50/p99), the plain Ask round trip to the vault measured in
/// the same run (the floor), leases per second with 16 in flight, cold start (process start to first
/// completed lease, in a fresh process), resident memory of both processes, and the memory backing.
/// </summary>
internal static class EndToEndHarness
{
    private const int Warmup = 3_000;
    private const int Sequential = 10_000;
    private const int Parallel = 40_000;
    private const int InFlight = 16;
    private const int ColdStarts = 5;

    public static async Task<int> RunAsync(string[] args)
    {
        bool json = args.Contains("--json");
        if (args.Contains("--cold-child"))
        {
            return await ColdChildAsync();
        }

        await using VaultClient vault = await VaultClient.StartAsync(new VaultClientOptions { VaultLog = static _ => { } });
        byte[] secret = RandomNumberGenerator.GetBytes(32);
        await vault.SetSecretAsync("bench", secret.AsSpan());

        for (int i = 0; i < Warmup; i++)
        {
            await vault.PingAsync();
            _ = await vault.WithSecretAsync("bench", static span => span[0]);
        }

        double[] ask = new double[Sequential];
        double[] lease = new double[Sequential];
        for (int i = 0; i < Sequential; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            await vault.PingAsync();
            ask[i] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
            long t1 = Stopwatch.GetTimestamp();
            _ = await vault.WithSecretAsync("bench", static span => span[0]);
            lease[i] = Stopwatch.GetElapsedTime(t1).TotalMicroseconds;
        }

        int next = 0;
        var parallel = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, InFlight).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) <= Parallel)
            {
                _ = await vault.WithSecretAsync("bench", static span => span[0]);
            }
        }));
        double perSecond = Parallel / parallel.Elapsed.TotalSeconds;

        VaultStatus status = await vault.GetStatusAsync();
        double rssApp = RssMiB(Environment.ProcessId);
        double rssVault = RssMiB(status.VaultPid);
        double[] cold = await ColdStartsAsync();

        Array.Sort(ask);
        Array.Sort(lease);
        var result = new Dictionary<string, object>
        {
            ["lease_p50_us"] = Round(lease[Sequential / 2]),
            ["lease_p99_us"] = Round(lease[Sequential * 99 / 100]),
            ["ask_rtt_p50_us"] = Round(ask[Sequential / 2]),
            ["ask_rtt_p99_us"] = Round(ask[Sequential * 99 / 100]),
            ["lease_over_ask_p50"] = Math.Round(lease[Sequential / 2] / ask[Sequential / 2], 2),
            ["leases_per_s_16"] = Math.Round(perSecond),
            ["cold_start_ms"] = Round(Median(cold)),
            ["cold_start_runs_ms"] = cold.Select(Round).ToArray(),
            ["rss_app_mib"] = Round(rssApp),
            ["rss_vault_mib"] = Round(rssVault),
            ["backing"] = status.Backing,
            ["link"] = "unix-socket",
            ["sequential_leases"] = Sequential,
            ["parallel_leases"] = Parallel,
            ["in_flight"] = InFlight,
        };

        Console.WriteLine(json
            ? JsonSerializer.Serialize(result)
            : string.Join(Environment.NewLine, result.Select(kv => $"{kv.Key,-22} {Format(kv.Value)}")));
        return 0;
    }

    /// <summary>Process start to first completed lease, in fresh processes (this executable in child mode).</summary>
    private static async Task<double[]> ColdStartsAsync()
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        string[] prefix = Path.GetFileNameWithoutExtension(self) == "dotnet" ? [typeof(EndToEndHarness).Assembly.Location] : [];
        double[] runs = new double[ColdStarts];
        for (int i = 0; i < ColdStarts; i++)
        {
            var start = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in prefix)
            {
                start.ArgumentList.Add(a);
            }

            start.ArgumentList.Add("e2e");
            start.ArgumentList.Add("--cold-child");
            var watch = Stopwatch.StartNew();
            using Process child = Process.Start(start)!;
            string? line;
            while ((line = await child.StandardOutput.ReadLineAsync()) is not null && !line.StartsWith("FIRST-LEASE", StringComparison.Ordinal))
            {
            }

            runs[i] = watch.Elapsed.TotalMilliseconds;
            if (line is null)
            {
                throw new InvalidOperationException($"cold-start child failed: {await child.StandardError.ReadToEndAsync()}");
            }

            await child.WaitForExitAsync();
        }

        return runs;
    }

    private static async Task<int> ColdChildAsync()
    {
        await using VaultClient vault = await VaultClient.StartAsync(new VaultClientOptions { VaultLog = static _ => { } });
        byte[] secret = RandomNumberGenerator.GetBytes(32);
        await vault.SetSecretAsync("bench", secret.AsSpan());
        _ = await vault.WithSecretAsync("bench", static span => span[0]);
        Console.Out.WriteLine("FIRST-LEASE");
        Console.Out.Flush();
        return 0;
    }

    private static double RssMiB(int pid)
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
            }
        }

        return double.NaN;
    }

    private static double Median(double[] values)
    {
        double[] sorted = [.. values.Order()];
        return sorted[sorted.Length / 2];
    }

    private static double Round(double v) => Math.Round(v, 1);

    private static string Format(object v) => v is double[] a ? string.Join(", ", a.Select(x => x.ToString(CultureInfo.InvariantCulture))) : Convert.ToString(v, CultureInfo.InvariantCulture)!;
}
