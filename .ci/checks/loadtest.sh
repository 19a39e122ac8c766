#!/usr/bin/env bash
# Continuous batching under load, end to end: the real server on 127.0.0.1 with tiny32k and 4 slots, driven by
# `Llama2.Bench loadtest` with more clients than slots and some clients disconnecting mid-stream. Checks that every
# other request completes without error and that no slot is left held afterwards. A few seconds; stopped by PID.
# Also the bench's own option handling (--help, bad values), since this check builds it.
# Last line: "N passed, N failed".
source "$(dirname "$0")/../check-lib.sh"

require_models

for project in Llama2.Server Llama2.Bench; do
  if ! dotnet build "$project" -c Release -o "$work/$project" >"$work/build-$project.log" 2>&1; then
    cat "$work/build-$project.log" >&2
    fail "$project builds"
    finish
  fi
done
pass "server and load generator build"
loadtest() { dotnet "$work/Llama2.Bench/Llama2.Bench.dll" loadtest "$@"; }

# The load generator refuses anything but loopback, and bad numbers.
loadtest --url http://10.1.2.3:80 >"$work/remote.log" 2>&1
code=$?
check "a non-loopback URL is refused with exit 2 (got $code)" test "$code" -eq 2
check "the refusal says loopback only" grep -qi "loopback" "$work/remote.log"
loadtest --clients 0 >/dev/null 2>&1
code=$?
check "--clients 0 is refused with exit 2 (got $code)" test "$code" -eq 2

# The bench itself: --help is not an error, a bad value is (exit 2, saying which), and nothing runs after either.
bench() { dotnet "$work/Llama2.Bench/Llama2.Bench.dll" "$@"; }
bench --help >"$work/bench-help.log" 2>&1
code=$?
check "bench --help exits 0 (got $code)" test "$code" -eq 0
check "bench --help prints the usage" grep -q "^usage: Llama2.Bench" "$work/bench-help.log"
bench --prompt abc --dir "$work/none" >"$work/bench-bad.log" 2>&1
code=$?
check "bench --prompt abc is refused with exit 2 (got $code)" test "$code" -eq 2
check "the refusal names the value" grep -q "'abc' is not a whole number" "$work/bench-bad.log"
bench --threads 0 --dir "$work/none" >/dev/null 2>&1
code=$?
check "bench --threads 0 is refused with exit 2 (got $code)" test "$code" -eq 2
check "a refused bench wrote no checkpoint" test ! -e "$work/none"

port=$(free_port)
base="http://127.0.0.1:$port"
Model__CheckpointPath="$model" Model__TokenizerPath="$tokenizer" Model__MaxConcurrentSequences=4 Model__MaxQueueLength=16 \
  dotnet "$work/Llama2.Server/Llama2.Server.dll" --contentRoot "$work/Llama2.Server" --urls "$base" >"$work/server.log" 2>&1 &
server_pid=$!
if ! wait_healthy "$base/health" "$server_pid"; then
  cat "$work/server.log" >&2
  fail "server becomes healthy"
  finish
fi
pass "server becomes healthy on $base"

# 8 clients on 4 slots, every 7th request abandoned after its first token.
timeout 120 dotnet "$work/Llama2.Bench/Llama2.Bench.dll" loadtest --url "$base" --clients 8 --requests 60 \
  --max-new-tokens 24 --disconnect-every 7 >"$work/load.log" 2>"$work/load.err"
code=$?
cat "$work/load.log"
summary=$(grep '^loadtest:' "$work/load.log")
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$summary"; }
check "load test exits 0 (got $code)" test "$code" -eq 0
check "no request failed (errors=$(field errors))" test "$(field errors)" = "0"
check "clients disconnected mid-stream (disconnects=$(field disconnects))" test "${summary:+$(field disconnects)}" -gt 0
check "tokens were streamed (tokens=$(field tokens))" test "${summary:+$(field tokens)}" -gt 0

# Every slot is free again once the clients are gone (polled: a disconnect frees its slot at the next step).
active=""
for _ in $(seq 1 50); do
  active=$(curl -s "$base/info" | sed -n 's/.*"active_sequences":\([0-9]*\).*/\1/p')
  [ "$active" = "0" ] && break
  sleep 0.2
done
check "no sequence left active (active_sequences=$active)" test "$active" = "0"
check "the server logged no errors" bash -c "! grep -q '\[ERR\]\|\[FTL\]' '$work/server.log'"

kill "$server_pid" && wait "$server_pid" 2>/dev/null
server_pid=""
finish
