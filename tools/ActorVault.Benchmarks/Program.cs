using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace ActorVault.Benchmarks;

/// <summary>
/// Runs the benchmarks in process (no generated project), with a short job sized for a shared 2-core
/// machine. Usage: dotnet run -c Release --project tools/ActorVault.Benchmarks -- --filter '*'
/// The end-to-end harness (real vault child): dotnet run -c Release --project tools/ActorVault.Benchmarks -- e2e --json
/// </summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        if (args is ["e2e", ..])
        {
            return await EndToEndHarness.RunAsync(args[1..]);
        }

        IConfig config = DefaultConfig.Instance
            .AddJob(Job.Default
                .WithToolchain(InProcessEmitToolchain.Instance)
                .WithWarmupCount(3)
                .WithIterationCount(15)
                .WithLaunchCount(1));
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
        return 0;
    }
}
