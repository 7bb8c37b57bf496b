#!/usr/bin/env bash
# Publishes `actorvault` as one NativeAOT executable (CLI, serve and the vault child) and checks it as
# a user runs it: serve, exec (digest), status, lock, unlock, stop, the vault child being the native
# binary; then prints the CLI table against ssh-add and gpg-connect-agent (tools/cli-bench.sh; a
# measurement, never a pass/fail). Needs a C toolchain for the final link: clang, or gcc (used when
# clang is absent). Usage: eng/native-check.sh [--no-publish]. Ends only the processes it started.
set -uo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
rid="linux-$(uname -m | sed -e 's/x86_64/x64/' -e 's/aarch64/arm64/')"
out="artifacts/native/$rid"
if [ "${1:-}" != "--no-publish" ]; then
  linker=()
  command -v clang >/dev/null 2>&1 || linker=(-p:CppCompilerAndLinker=gcc)
  rm -rf "$out"
  dotnet publish src/ActorVault.Host -c Release -r "$rid" -p:PublishAot=true "${linker[@]}" -o "$out" || exit 1
fi
bin="$(pwd)/$out/actorvault"
work=$(mktemp -d /tmp/actorvault-native-check.XXXXXX)
chmod 700 "$work"
host=""
cleanup() { [ -n "$host" ] && kill "$host" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
passed=0 failed=0
check() { # name, command...
  local name=$1; shift
  if "$@" >"$work/last.log" 2>&1; then echo "ok   $name"; passed=$((passed + 1));
  else echo "FAIL $name"; sed 's/^/     /' "$work/last.log" | tail -20; failed=$((failed + 1)); fi
}
export ACTORVAULT_SOCK="$work/s/agent.sock"
secret="native secret $$"
expect=$(printf '%s' "$secret" | sha256sum | cut -d' ' -f1)

native() { file "$bin" | grep -q 'ELF' && ! [ -e "$out/ActorVault.Host.dll" ]; }
check "a native executable, no managed assemblies beside it ($(du -h "$bin" | cut -f1))" native
serve() {
  printf '%s\n' "$secret" | "$bin" serve --password-stdin --socket "$ACTORVAULT_SOCK" > "$work/serve.out" 2> "$work/serve.err" &
  host=$!
  for _ in $(seq 1 300); do grep -q ACTORVAULT_PID "$work/serve.out" 2>/dev/null && return 0; kill -0 "$host" 2>/dev/null || break; sleep 0.1; done
  cat "$work/serve.err"; return 1
}
check "serve prints its exports" serve
vault_native() {
  local vault
  vault=$("$bin" status --json | sed -n 's/.*"vaultPid": *\([0-9]*\).*/\1/p')
  [ -n "$vault" ] && [ "$(readlink "/proc/$vault/exe")" = "$bin" ] && ! grep -q 'libcoreclr' "/proc/$vault/maps"
}
check "the vault child is the native binary (no CoreCLR mapped)" vault_native
# The socket a .NET process would listen on: dotnet-diagnostic-PID-KEY-socket, KEY its start time in
# clock ticks (/proc/PID/stat field 22). The pid alone is not enough: killed processes leave socket
# files behind, and pids are reused.
diagnostic_socket() { echo "/tmp/dotnet-diagnostic-$1-$(sed -E 's/.*\) //' "/proc/$1/stat" | cut -d' ' -f20)-socket"; }
no_diagnostics() {
  # NativeAOT has no diagnostic server: none for serve, its vault, or a CLI command while its CMD runs.
  local vault
  vault=$("$bin" status --json | sed -n 's/.*"vaultPid": *\([0-9]*\).*/\1/p')
  for pid in "$host" "$vault"; do
    [ ! -e "$(diagnostic_socket "$pid")" ] || { echo "pid $pid has $(diagnostic_socket "$pid")"; return 1; }
  done
  export -f diagnostic_socket
  "$bin" exec -- bash -c 'cat >/dev/null; s=$(diagnostic_socket $PPID); [ ! -e "$s" ] || { echo "exec has $s"; exit 1; }'
}
check "no .NET diagnostic socket: serve, vault, exec" no_diagnostics
digest() { [ "$("$bin" exec -- sha256sum | cut -d' ' -f1)" = "$expect" ]; }
check "exec hands CMD the exact bytes" digest
check "status" "$bin" status
locked() {
  "$bin" lock || return 1
  if "$bin" exec -- true; then echo "exec succeeded while locked"; return 1; fi
  printf 'again' | "$bin" unlock --password-stdin || return 1
  [ "$("$bin" exec -- cat)" = again ]
}
check "lock, exec refused, unlock, exec" locked
stop() { "$bin" stop && ! kill -0 "$host" 2>/dev/null && [ ! -e "$ACTORVAULT_SOCK" ]; }
check "stop: host gone, socket removed" stop
kill -0 "$host" 2>/dev/null || host=""
demo() { echo "native demo password" | "$bin" demo | grep -q 'vault secure heap'; }
check "demo (password on stdin)" demo
if [ "$failed" -eq 0 ]; then
  ACTORVAULT_BIN="$bin" bash tools/cli-bench.sh 15 || true
fi
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
