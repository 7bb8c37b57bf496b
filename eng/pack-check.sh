#!/usr/bin/env bash
# Packs ActorVault and checks the packages as a user gets them:
#  1. a consumer project restoring ActorVault.Hosting from artifacts/packages (plus nuget.org) gets the
#     vault executable in its output and publish folders (actorvault-vault/) and leases a secret from it;
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

mkdir -p "$work/consumer"
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
cat >"$work/consumer/Consumer.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings>
    <!-- A consumer that treats warnings as errors builds clean: the packages declare it Linux-only (CA1416). -->
    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="ActorVault.Hosting" Version="$version" />
    <PackageReference Include="Microsoft.Extensions.Hosting" Version="10.0.15" />
  </ItemGroup>
</Project>
XML
cat >"$work/consumer/Program.cs" <<'CS'
using Akka.Hosting;
using ActorVault;
using ActorVault.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

HostApplicationBuilder builder = Host.CreateApplicationBuilder();
builder.Services.AddAkka("consumer", akka => akka.WithActorVault());
builder.Services.AddActorVault();
using IHost host = builder.Build();
IVault vault = host.Services.GetRequiredService<IVault>(); // before the start: safe, it waits for the vault
await host.StartAsync();
await vault.SetSecretAsync("db", "from a package"u8.ToArray().AsSpan());
int length = await vault.WithSecretAsync("db", static bytes => bytes.Length);
Console.WriteLine($"consumer: leased {length} bytes from vault pid {(await vault.GetStatusAsync()).VaultPid}");
await host.StopAsync();
return length == 14 ? 0 : 1;
CS

out="$work/consumer/bin/Release/net10.0"
check "consumer restores ActorVault.Hosting $version from the local folder and builds, warnings as errors (no CA1416)" dotnet build "$work/consumer" -c Release
check "the vault executable is in the consumer's output (actorvault-vault/ActorVault.Host.dll)" test -f "$out/actorvault-vault/ActorVault.Host.dll" -a -f "$out/actorvault-vault/ActorVault.Host.runtimeconfig.json"
check "and only there (so the lease below used the packaged one)" test ! -e "$out/ActorVault.Host.dll" -a ! -e "$out/actorvault"
check "the consumer starts the packaged vault and leases a secret" bash -c "'$out/Consumer' | tee /dev/stderr | grep -q 'consumer: leased 14 bytes'"
check "dotnet publish carries the vault too" bash -c "dotnet publish '$work/consumer' -c Release -o '$work/publish' && test -f '$work/publish/actorvault-vault/ActorVault.Host.dll'"

check "dotnet tool install ActorVault.Tool $version" dotnet tool install --tool-path "$work/tool" --add-source "$packages" --version "$version" ActorVault.Tool
check "actorvault --help lists demo and serve" bash -c "'$work/tool/actorvault' --help | grep -Eq '^  demo ' && '$work/tool/actorvault' --help | grep -Eq '^  serve '"
check "actorvault demo (password on stdin)" bash -c "printf 'pack check\n' | '$work/tool/actorvault' demo"

echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
