using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace ActorVault.Benchmarks;

/// <summary>
/// Runs the benchmarks in process (no generated project), with a short job sized for a shared 2-core
/// machine. Usage: dotnet run -c Release --project tools/ActorVault.Benchmarks -- --filter '*'
/// </summary>
internal static class Program
{
    private static void Main(string[] args)
    {
        IConfig config = DefaultConfig.Instance
            .AddJob(Job.Default
                .WithToolchain(InProcessEmitToolchain.Instance)
                .WithWarmupCount(3)
                .WithIterationCount(15)
                .WithLaunchCount(1));
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
    }
}
