#!/usr/bin/env bash
# ActorVault security behaviour checks: the Node.js PoC's 18 (test-security-behavior.sh), in our world,
# and ours beyond them, against the built executables (the vault `ActorVault.Host vault` and a real
# application process, tests/ActorVault.AppProbe). Prints PASS/FAIL per check and "N passed, N failed".
# Memory scans need root (CI runs as root); elsewhere they are reported as SKIP with the reason.
set -u
cd "$(dirname "$0")/.."
BIN=tests/ActorVault.IntegrationTests/bin/Release/net10.0
APP="$BIN/ActorVault.AppProbe"
HOST="$BIN/ActorVault.Host"
if [ ! -x "$APP" ] || [ ! -x "$HOST" ]; then
  dotnet build tests/ActorVault.IntegrationTests -c Release >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
fi
TMP=$(mktemp -d)
STARTED=()   # every application and vault pid this script started: the only processes it ends or checks
trap 'for p in "${STARTED[@]}"; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT
pass=0; fail=0; skip=0
ok()   { echo "PASS: $1"; pass=$((pass + 1)); }
bad()  { echo "FAIL: $1${2:+ ($2)}"; fail=$((fail + 1)); }
check() { local name="$1"; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
root() { [ "$(id -u)" = 0 ]; }

# --- a running application with its vault, driven through a coprocess -------------------------------
start_app() { # args: AppProbe arguments; sets APP_PID VAULT_PID; secret (if any) written by the caller
  coproc APPC { exec "$APP" "$@" 2>"$TMP/app.err"; }
  APP_IN=${APPC[1]}; APP_OUT=${APPC[0]}; APP_PID=$APPC_PID
  STARTED+=("$APP_PID")
  local line; line=$(expect "APP-READY") || return 1
  VAULT_PID=$(sed -E 's/.*vault=([0-9]+).*/\1/' <<<"$line")
  STARTED+=("$VAULT_PID")
}
expect() { # prefix [timeout]: prints the first line starting with prefix
  local line; while IFS= read -r -t "${2:-60}" line <&"$APP_OUT"; do
    echo "$line" >>"$TMP/app.out"; [[ "$line" == "$1"* ]] && { echo "$line"; return 0; }; done; return 1
}
say() { echo "$1" >&"$APP_IN"; }
gone_within() { # pid seconds
  local deadline=$((SECONDS + $2)); while kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' /proc/"$1"/stat 2>/dev/null)" != Z ]; do
    [ $SECONDS -ge $deadline ] && return 1; sleep 0.05; done; return 0
}
scan_zero() { # pid: no copy of $SECRET in its memory
  local r; r=$("$APP" scan "$1" "$TMP/secret"); echo "      $r (pid $1)"; [[ "$r" == "SCAN total=0 "* ]]
}

echo "ActorVault security behaviour checks ($(date -u +%FT%TZ), $(uname -r), .NET $(dotnet --version 2>/dev/null))"
SECRET="AV$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 30)"; printf '%s' "$SECRET" >"$TMP/secret"

# 1-2 environment and files
check "1 environment: .NET 10 runtime and OpenSSL 3 libcrypto present" bash -c 'dotnet --list-runtimes | grep -q "Microsoft.NETCore.App 10\." && ldconfig -p | grep -q libcrypto.so.3'
check "2 files: vault executable and application probe built" test -x "$HOST" -a -x "$APP" -a -f "$BIN/ActorVault.dll" -a -f "$BIN/ActorVault.Memory.dll"

# 3-6, 9-11 one application with its vault, secret handed over a pipe
if start_app --unlock stdin; then
  printf '%s\n' "$SECRET" >&"$APP_IN"
  expect "UNLOCKED" >/dev/null; say status; st=$(expect "STATUS")
  check "3 secure heap allocation: the vault's RSA key lives in the OpenSSL secure heap (used > 0)" grep -qE 'heapUsed=[1-9]' <<<"$st"
  check "4 process isolation: 0 secure heap in the application, the private key only in the vault" grep -q 'appHeapUsed=0 ' <<<"$st"
  check "5 secret memory: memfd_secret (or mlock) backing, vault hardened (not dumpable)" grep -qE 'backing=(MemfdSecret|LockedAnonymous) hardened=True' <<<"$st"
  want=$(printf '%s' "$SECRET" | sha256sum | cut -c1-64 | tr a-f A-F)
  say "open main"; op=$(expect "OPENED")
  check "6 cross-process communication: the vault holds exactly the bytes sent (SHA-256 match)" grep -q "sha256=$want" <<<"$op"
  say "lease-seq 200"; ls=$(expect "LEASED")
  check "7 buffer sanitization: 200 leases, every lease buffer zeroed and returned (live=0, only 2 session keys)" grep -qE "n=200 distinct=1 sha256=$want live=0 buffers=2" <<<"$ls"
  say "lease-par 2000 16"; lp=$(expect "LEASED" 120)
  check "8 integration: 2,000 leases with 16 in flight, all correct, none left live" grep -qE "n=2000 distinct=1 sha256=$want live=0" <<<"$lp"
  if root; then
    check "9 memory cleanup: no copy of the secret in the application's memory after 2,200 leases" scan_zero "$APP_PID"
    check "10 memory cleanup: no copy of the secret in the vault's memory" scan_zero "$VAULT_PID"
  else
    echo "SKIP: 9-10 memory scans need root (/proc/PID/mem of other processes)"; skip=$((skip + 2))
  fi
  check "11 logs: neither process printed the secret (stdout, stderr, forwarded vault log)" bash -c "! grep -qF '$SECRET' '$TMP/app.out' '$TMP/app.err'"
  # 12 SIGTERM
  kill -TERM "$APP_PID"
  check "12 SIGTERM: application and vault both gone within 5 s" bash -c "$(declare -f gone_within); gone_within $APP_PID 5 && gone_within $VAULT_PID 5"
  wait "$APP_PID" 2>/dev/null; rc=$?
  check "13 SIGTERM: conventional exit code 143" test "$rc" = 143
else
  bad "3-13 application did not start" "$(tail -3 "$TMP/app.err")"; fail=$((fail + 10))
fi

# 14-16 SIGINT, SIGHUP, SIGQUIT with 16 leases in flight
n=14
for sig in INT HUP QUIT; do
  if start_app --unlock stdin; then
    printf '%s\n' "$SECRET" >&"$APP_IN"; expect "UNLOCKED" >/dev/null
    say "lease-hold 16"; expect "HOLDING 16" >/dev/null
    kill -"$sig" "$APP_PID"
    ended=0; while IFS= read -r -t 10 line <&"$APP_OUT"; do [[ "$line" == "HOLD-ENDED type=LeaseRevokedException" ]] && ended=$((ended + 1)); done
    wait "$APP_PID" 2>/dev/null; rc=$?
    code=$((128 + $(kill -l "$sig")))
    if [ "$ended" = 16 ] && [ "$rc" = "$code" ] && gone_within "$VAULT_PID" 5; then ok "$n SIG$sig with 16 leases in flight: every lease revoked and zeroed, exit $code, vault gone"
    else bad "$n SIG$sig with 16 leases in flight" "revoked=$ended exit=$rc"; fi
  else bad "$n SIG$sig: application did not start"; fi
  n=$((n + 1))
done

# 17 parent killed: the vault zeroes and exits within a second
if start_app; then
  kill -KILL "$APP_PID"; wait "$APP_PID" 2>/dev/null
  check "17 parent SIGKILL: the vault zeroes and exits within 1 s (parent watch: pidfd, link socket)" gone_within "$VAULT_PID" 1
else bad "17 application did not start"; fi

# 18 no orphans after everything above: none of the vaults this script's applications started is left
orphans=""
for p in "${STARTED[@]}"; do gone_within "$p" 5 || orphans="$orphans $p"; done
check "18 no orphan: no process this script started (applications, vaults) is left" test -z "$orphans"

echo
echo "${pass} passed, ${fail} failed${skip:+, ${skip} skipped}"
[ "$fail" = 0 ]
