#!/usr/bin/env bash
# CLI latency of the standalone host against ssh-agent and gpg-agent, interleaved, same sitting.
# Usage: tools/cli-bench.sh [RUNS] (default 15). Starts its own actorvault host and ssh-agent in a
# private temp directory and ends exactly those (by pid). Prints medians in ms and peak RSS in MiB.
set -euo pipefail
RUNS=${1:-15}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
AV="${ACTORVAULT_BIN:-$ROOT/src/ActorVault.Host/bin/Release/net10.0/actorvault}"
[ -x "$AV" ] || { echo "build first: dotnet build ActorVault.sln -c Release" >&2; exit 2; }
TMP=$(mktemp -d)
chmod 700 "$TMP"
HOSTPID=""
AGENTPID=""
cleanup() {
  [ -n "$HOSTPID" ] && kill "$HOSTPID" 2>/dev/null || true
  # gpg-connect-agent started a gpg-agent for this private GNUPGHOME: end that one only.
  [ "${HAVE_GPG:-0}" = 1 ] && GNUPGHOME="$TMP/gnupg" gpgconf --kill gpg-agent 2>/dev/null || true
  [ -n "$AGENTPID" ] && kill "$AGENTPID" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
printf 'bench secret' > "$TMP/pass"
"$AV" serve --password-file "$TMP/pass" --socket "$TMP/av/agent.sock" > "$TMP/serve.out" 2> "$TMP/serve.err" &
HOSTPID=$!
for _ in $(seq 1 600); do grep -q ACTORVAULT_PID "$TMP/serve.out" 2>/dev/null && break; sleep 0.1; done
grep -q ACTORVAULT_PID "$TMP/serve.out" || { cat "$TMP/serve.err" >&2; exit 1; }
export ACTORVAULT_SOCK="$TMP/av/agent.sock"
eval "$(ssh-agent -s -a "$TMP/ssh.sock")" > /dev/null
AGENTPID=$SSH_AGENT_PID
HAVE_GPG=0
command -v gpg-connect-agent > /dev/null && HAVE_GPG=1
export GNUPGHOME="$TMP/gnupg"; mkdir -m 700 "$GNUPGHOME"
[ $HAVE_GPG = 1 ] && gpg-connect-agent /bye > /dev/null 2>&1 || true

declare -A times mems
measure() { # name command... (wall time by the clock, peak RSS by time(1); both wrap every command alike)
  local name=$1; shift
  local t0 t1
  t0=$(date +%s%N)
  /usr/bin/time -f '%M' -o "$TMP/mem" "$@" > /dev/null 2>&1 || true
  t1=$(date +%s%N)
  times[$name]+="$(( (t1 - t0) / 1000 )) "
  mems[$name]+="$(tail -1 "$TMP/mem") "
}
for _ in $(seq 1 "$RUNS"); do
  measure "actorvault exec -- true" "$AV" exec -- true
  measure "ssh-add -L" ssh-add -L
  measure "actorvault status" "$AV" status
  [ $HAVE_GPG = 1 ] && measure "gpg-connect-agent /bye" gpg-connect-agent /bye
  measure "actorvault lock --secret none" "$AV" lock --secret none
  measure "actorvault unlock --secret b" sh -c 'printf x | "$0" unlock --password-stdin --secret b' "$AV"
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk -v d="$1" '{a[NR]=$1} END {m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/d}'; }
printf '%-32s %10s %10s\n' command "median ms" "peak MiB"
for name in "actorvault exec -- true" "actorvault status" "actorvault lock --secret none" "actorvault unlock --secret b" "ssh-add -L" "gpg-connect-agent /bye"; do
  [ -n "${times[$name]:-}" ] || continue
  printf '%-32s %10s %10s\n' "$name" "$(echo "${times[$name]}" | median 1000)" "$(echo "${mems[$name]}" | median 1024)"
done
