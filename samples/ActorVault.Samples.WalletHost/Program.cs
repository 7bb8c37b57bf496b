using Akka.Hosting;
using ActorVault.Hosting;
using ActorVault.Samples.WalletHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// walletd [--create] [--wallet PATH]: reads the wallet password (the vault reads the terminal with
// echo off; or this process reads stdin when it is not a terminal), then creates or unlocks the wallet
// inside a lease. Exit codes: 0 done, 1 wrong password or vault failure, 2 bad arguments or file state.
if (!WalletCommand.TryParse(args, out WalletCommand? command, out string? usage))
{
    Console.Error.WriteLine($"walletd: {usage}");
    return 2;
}

HostApplicationBuilder builder = Host.CreateApplicationBuilder();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Services.AddSingleton(command);
builder.Services.AddAkka("wallet-host", akka => akka
    .ConfigureLoggers(l => l.LogLevel = Akka.Event.LogLevel.WarningLevel)
    .WithActorVault(o => o.DefaultLeaseTtl = TimeSpan.FromSeconds(10)));
builder.Services.AddActorVault();
builder.Services.AddHostedService<WalletService>();

using IHost host = builder.Build();
await host.RunAsync();
return Environment.ExitCode;
