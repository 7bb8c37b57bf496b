#!/usr/bin/env bash
# Packs ActorVault and checks the packages as a user gets them:
#  1. a consumer project (a fresh `dotnet new worker`) restoring ActorVault.Hosting from
#     artifacts/packages (plus nuget.org) gets the vault executable in its output and publish folders
#     (actorvault-vault/), and leases a secret from it through an injected IVault;
#  2. `dotnet tool install ActorVault.Tool` gives a working `actorvault --help` and `actorvault demo`.
# Usage: eng/pack-check.sh [--no-pack]. Restores into a private package folder, so a stale copy of the
# same version in ~/.nuget/packages cannot hide a broken package.
set -uo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
repo=$(pwd)
packages="$repo/artifacts/packages"
if [ "${1:-}" != "--no-pack" ]; then
  rm -rf "$packages"
  dotnet pack ActorVault.sln -c Release -o "$packages" || exit 1
fi
version=$(ls "$packages"/ActorVault.Hosting.*.nupkg | head -1 | sed -E 's/.*ActorVault\.Hosting\.(.*)\.nupkg/\1/')
[ -n "$version" ] || { echo "no ActorVault.Hosting package in $packages"; exit 1; }

work=$(mktemp -d /tmp/actorvault-pack-check.XXXXXX)
trap 'rm -rf "$work"' EXIT
export NUGET_PACKAGES="$work/nuget-packages"
passed=0 failed=0
check() { # name, command...
  local name=$1; shift
  if "$@" >"$work/last.log" 2>&1; then echo "ok   $name"; passed=$((passed + 1));
  else echo "FAIL $name"; sed 's/^/     /' "$work/last.log" | tail -30; failed=$((failed + 1)); fi
}

expected_packages() {
  for id in ActorVault.Memory ActorVault ActorVault.Hosting ActorVault.TestKit ActorVault.Tool; do
    [ -f "$packages/$id.$version.nupkg" ] || { echo "missing $id.$version.nupkg"; return 1; }
  done
  # Nothing else is packable (tests, samples, tools).
  [ "$(ls "$packages"/*.nupkg | wc -l)" -eq 5 ] || { ls "$packages"; return 1; }
}
check "five packages: Memory, ActorVault, Hosting, TestKit, Tool ($version)" expected_packages

# The consumer is what README's embedding quick start gives a newcomer: a fresh `dotnet new worker`,
# IVault injected into the worker's constructor, options bound from appsettings.json with
# ValidateOnStart, the health check registered and queried, OpenTelemetry-style metrics collected in
# process (a MeterListener on VaultMetrics.MeterName), warnings as errors.
check "dotnet new worker (the consumer)" dotnet new worker -n Consumer -o "$work/consumer" --no-restore
cat >"$work/consumer/NuGet.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="actorvault-local" value="$packages" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" protocolVersion="3" />
  </packageSources>
</configuration>
XML
sed -i 's|</PropertyGroup>|  <TreatWarningsAsErrors>true</TreatWarningsAsErrors>\n  </PropertyGroup>|' "$work/consumer/Consumer.csproj"
(cd "$work/consumer" && dotnet add package ActorVault.Hosting --version "$version" --no-restore >/dev/null)
cat >"$work/consumer/appsettings.json" <<'JSON'
{
  "Logging": { "LogLevel": { "Default": "Warning" } },
  "ActorVault": { "DefaultLeaseTtl": "00:00:05", "MaxConcurrentLeases": 8 }
}
JSON
cat >"$work/consumer/Program.cs" <<'CS'
using Akka.Hosting;
using ActorVault.Hosting;
using Consumer;

HostApplicationBuilder builder = Host.CreateApplicationBuilder(args);
builder.Services.AddActorVault(builder.Configuration.GetSection("ActorVault"));
builder.Services.AddAkka("consumer", (akka, sp) => akka.WithActorVault(sp));
builder.Services.AddHealthChecks().AddActorVault();
builder.Services.AddMetrics();
builder.Services.AddHostedService<Worker>();
IHost host = builder.Build();
host.Run();
return Environment.ExitCode;
CS
cat >"$work/consumer/Worker.cs" <<'CS'
using System.Diagnostics.Metrics;
using ActorVault;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Consumer;

public sealed class Worker(IVault vault, HealthCheckService health, IHostApplicationLifetime lifetime) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        long requests = 0;
        using var meters = new MeterListener();
        meters.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == VaultMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        meters.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            if (instrument.Name == "actorvault.lease.requests")
            {
                Interlocked.Add(ref requests, value);
            }
        });
        meters.Start();

        await vault.SetSecretAsync("db", "from a package"u8.ToArray().AsSpan(), stoppingToken);
        TimeSpan ttl = TimeSpan.Zero;
        int length = await vault.WithSecretAsync("db", lease =>
        {
            ttl = lease.Deadline - lease.GrantedAt;
            return ValueTask.FromResult(lease.Length);
        }, cancellationToken: stoppingToken);
        HealthReport report = await health.CheckHealthAsync(stoppingToken);
        if (Environment.GetEnvironmentVariable("CONSUMER_MAPS_OUT") is { Length: > 0 } mapsOut)
        {
            // What the running vault has mapped (readable by root only: the vault is not dumpable).
            int vaultPid = (await vault.GetStatusAsync(stoppingToken)).VaultPid;
            try { File.WriteAllText(mapsOut, File.ReadAllText($"/proc/{vaultPid}/maps")); }
            catch (UnauthorizedAccessException) { File.WriteAllText(mapsOut, "unreadable"); }
        }

        Console.WriteLine($"consumer: leased {length} bytes for {ttl.TotalSeconds:0} s from vault pid {(await vault.GetStatusAsync(stoppingToken)).VaultPid}; health {report.Status}; {Interlocked.Read(ref requests)} lease request(s) metered");
        Environment.ExitCode = length == 14 && ttl == TimeSpan.FromSeconds(5) && report.Status == HealthStatus.Healthy && Interlocked.Read(ref requests) == 1 ? 0 : 1;
        lifetime.StopApplication();
    }
}
CS

out="$work/consumer/bin/Release/net10.0"
check "consumer restores ActorVault.Hosting $version from the local folder and builds, warnings as errors (no CA1416)" dotnet build "$work/consumer" -c Release
check "the vault executable is in the consumer's output (actorvault-vault/ActorVault.Host.dll)" test -f "$out/actorvault-vault/ActorVault.Host.dll" -a -f "$out/actorvault-vault/ActorVault.Host.runtimeconfig.json"
check "and only there (so the lease below used the packaged one)" test ! -e "$out/ActorVault.Host.dll" -a ! -e "$out/actorvault"
check "the worker (IVault injected, options from appsettings.json) leases, reports Healthy, meters, and stops with exit 0" bash -c "cd '$out' && printed=\$(timeout 120 ./Consumer); rc=\$?; echo \"\$printed\"; [ \$rc -eq 0 ] && grep -q 'consumer: leased 14 bytes for 5 s .*health Healthy; 1 lease request(s) metered' <<<\"\$printed\""
# Every file in the vault folder is one the running vault maps, or is listed here with its reason.
vault_folder_check() {
  local maps="$work/vault.maps" dir="$out/actorvault-vault"
  (cd "$out" && CONSUMER_MAPS_OUT="$maps" timeout 120 ./Consumer >/dev/null) || return 1
  if [ "$(cat "$maps")" = unreadable ]; then echo "skipped: not root, a non-dumpable vault's maps are unreadable"; return 0; fi
  local unmapped=0 f
  while IFS= read -r f; do
    case "${f#"$dir"/}" in
      ActorVault.Host.deps.json|ActorVault.Host.runtimeconfig.json) continue ;;  # read by the host at start, not mapped
      System.CommandLine.dll) continue ;;  # the CLI half of the same executable (demo, serve, exec, …); vault mode never loads it
      Newtonsoft.Json.dll|Google.Protobuf.dll|DotNetty.*.dll) continue ;;  # dependencies of Akka/Akka.Remote, loaded only on paths the vault's own transport never takes
      Microsoft.Extensions.Compliance.*.dll|Microsoft.Extensions.Configuration*.dll|Microsoft.Extensions.DependencyInjection*.dll|Microsoft.Extensions.Logging.dll|Microsoft.Extensions.ObjectPool.dll|Microsoft.Extensions.Options*.dll|Microsoft.Extensions.Primitives.dll) continue ;;  # ActorVault.dll's application side (RedactingLogger on Compliance.Redaction, options); the vault process never loads them
      System.Configuration.ConfigurationManager.dll|System.Drawing.Common.dll|System.Security.Permissions.dll|System.Security.Cryptography.ProtectedData.dll|System.Windows.Extensions.dll|Microsoft.Win32.SystemEvents.dll|runtimes/unix/lib/net6.0/System.Drawing.Common.dll) continue ;;  # Akka's app.config support and its closure (not used: HOCON comes from code)
    esac
    grep -qF "$f" "$maps" || { echo "in the vault folder but not mapped by the vault, and no reason listed: ${f#"$dir"/}"; unmapped=$((unmapped + 1)); }
  done < <(find "$dir" -type f | sort)
  echo "vault folder: $(find "$dir" -type f | wc -l) files, $(du -sb "$dir" | cut -f1) bytes"
  [ "$unmapped" -eq 0 ]
}
check "the vault folder holds only what the vault maps (or a listed reason)" vault_folder_check
check "dotnet publish carries the vault too" bash -c "dotnet publish '$work/consumer' -c Release -o '$work/publish' && test -f '$work/publish/actorvault-vault/ActorVault.Host.dll'"

check "dotnet tool install ActorVault.Tool $version" dotnet tool install --tool-path "$work/tool" --add-source "$packages" --version "$version" ActorVault.Tool
check "actorvault --help lists demo and serve" bash -c "'$work/tool/actorvault' --help | grep -Eq '^  demo ' && '$work/tool/actorvault' --help | grep -Eq '^  serve '"
check "actorvault demo (password on stdin)" bash -c "printf 'pack check\n' | '$work/tool/actorvault' demo"

echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
