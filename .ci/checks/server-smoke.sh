#!/usr/bin/env bash
# End-to-end check of Llama2.Server: builds it, starts the real process on 127.0.0.1 with tiny32k, waits for
# /health, drives it with curl (streaming with -N), asserts on the answers, stops it by its PID.
# Last line: "N passed, N failed"; exit code non-zero on any failure.
source "$(dirname "$0")/../check-lib.sh"

require_models


# Its own output folder, so the check never disturbs another build of the tree.
if ! dotnet build Llama2.Server -c Release -o "$work/server" >"$work/build.log" 2>&1; then
  cat "$work/build.log" >&2
  fail "server builds"
  finish
fi
pass "server builds"
server_dll="$work/server/Llama2.Server.dll"

# 1. A missing checkpoint stops start-up with one log line naming the file, exit code 1, no stack trace.
Model__CheckpointPath="$work/missing.bin" Model__TokenizerPath="$tokenizer" \
  timeout 60 dotnet "$server_dll" --contentRoot "$work/server" --urls "http://127.0.0.1:$(free_port)" >"$work/missing.log" 2>&1
code=$?
check "missing checkpoint exits 1 (got $code)" test "$code" -eq 1
check "missing checkpoint is named in the log" grep -q "Model:CheckpointPath: file not found: $work/missing.bin" "$work/missing.log"
check "no stack trace on a start-up error" bash -c "! grep -q '^   at ' '$work/missing.log'"

# 2. The real server.
port=$(free_port)
base="http://127.0.0.1:$port"
Model__CheckpointPath="$model" Model__TokenizerPath="$tokenizer" \
  dotnet "$server_dll" --contentRoot "$work/server" --urls "$base" >"$work/server.log" 2>&1 &
server_pid=$!

if ! wait_healthy "$base/health" "$server_pid" 300; then # up to 60 s
  echo "server never became healthy; its log:" >&2
  cat "$work/server.log" >&2
  fail "server becomes healthy"
  finish
fi
pass "server becomes healthy on $base"

json() { curl -s -X POST "$base$1" -H 'Content-Type: application/json' -d "$2"; }
contains() { grep -q -- "$2" <<<"$1"; }
contains_text() { grep -qF -- "$2" <<<"$1"; }

health=$(curl -s "$base/health")
check "/health says ready" contains "$health" '"status":"ready"'

info=$(curl -s "$base/info")
check "/info names the model" contains "$info" '"model_id":"tiny32k"'
check "/info gives the context" contains "$info" '"max_total_tokens":128'

headers="$work/headers"
generated=$(curl -s -D "$headers" -X POST "$base/generate" -H 'Content-Type: application/json' \
  -d '{"inputs": "Once upon a time", "parameters": {"max_new_tokens": 8, "details": true}}')
check "/generate answers generated_text" contains "$generated" '"generated_text":"'
check "/generate details: 8 tokens" contains "$generated" '"generated_tokens":8'
check "/generate details: finish_reason length" contains "$generated" '"finish_reason":"length"'
check "/generate header x-generated-tokens" grep -qi '^x-generated-tokens: 8' "$headers"
check "/generate header x-tokens-per-second" grep -qi '^x-tokens-per-second: [0-9]' "$headers"
check "/generate header x-queue-time" grep -qi '^x-queue-time: [0-9]' "$headers"

seeded='{"inputs": "Once upon a time", "parameters": {"max_new_tokens": 12, "temperature": 0.9, "seed": 42}}'
first=$(json /generate "$seeded")
second=$(json /generate "$seeded")
check "a seed gives the same text twice" test "$first" = "$second"

stream=$(curl -sN -X POST "$base/generate_stream" -H 'Content-Type: application/json' \
  -d '{"inputs": "Once upon a time", "parameters": {"max_new_tokens": 6}}')
events=$(grep -c '^data: ' <<<"$stream")
check "/generate_stream sends 6 events (got $events)" test "$events" -eq 6
check "/generate_stream: first event is token 1 without text yet" contains "$(grep '^data: ' <<<"$stream" | head -n 1)" '"index":1,"token":{"id":[0-9]*,.*"generated_text":null,"details":null'
check "/generate_stream: last event has the text and details" contains "$(grep '^data: ' <<<"$stream" | tail -n 1)" '"index":6,.*"generated_text":"[^"]*.*"finish_reason":"length"'

greedy_text=$(json /generate '{"inputs": "Once upon a time", "parameters": {"max_new_tokens": 6}}' | sed -n 's/^{"generated_text":\(".*"\)}$/\1/p')
check "/generate_stream text equals /generate's" test -n "$greedy_text"
check "/generate_stream text equals /generate's" contains_text "$(grep '^data: ' <<<"$stream" | tail -n 1)" "\"generated_text\":$greedy_text,"

stream_headers="$work/stream-headers"
streamed=$(curl -sN -D "$stream_headers" -X POST "$base/generate" -H 'Content-Type: application/json' \
  -d '{"inputs": "The cat", "stream": true, "parameters": {"max_new_tokens": 4}}')
check "/generate with stream:true is text/event-stream" grep -qi '^content-type: text/event-stream' "$stream_headers"
check "/generate with stream:true sends 4 events" test "$(grep -c '^data: ' <<<"$streamed")" -eq 4

tokens=$(json /tokenize '{"inputs": "Hello world"}')
check "/tokenize starts with BOS" contains "$tokens" '^\[{"id":1,"text":"<s>","start":0,"stop":0}'

invalid_status=$(curl -s -o "$work/invalid.json" -w '%{http_code}' -X POST "$base/generate" -H 'Content-Type: application/json' \
  -d '{"inputs": "x", "parameters": {"max_new_tokens": 0}}')
check "max_new_tokens 0 is 422 (got $invalid_status)" test "$invalid_status" = "422"
check "422 has TGI's error body" grep -q '"error":"`max_new_tokens` must be strictly positive","error_type":"validation"' "$work/invalid.json"

bad_json_status=$(curl -s -o "$work/bad.json" -w '%{http_code}' -X POST "$base/generate" -H 'Content-Type: application/json' -d '{"inputs": ')
check "broken JSON is 422 (got $bad_json_status)" test "$bad_json_status" = "422"

check "/openapi/v1.json lists /generate_stream" contains "$(curl -s "$base/openapi/v1.json")" '"/generate_stream"'
check "/swagger serves the UI" test "$(curl -s -o /dev/null -w '%{http_code}' "$base/swagger/index.html")" = "200"

check "the request log has one line per generation with tok/s" grep -q 'POST /generate responded 200 in .* tok/s, finish length' "$work/server.log"
check "the model load is logged with its shape" grep -q 'Loaded .*tiny32k.bin .*dim 48' "$work/server.log"
check "no stack trace in the server log" bash -c "! grep -q '^   at ' '$work/server.log'"

kill "$server_pid" 2>/dev/null
wait "$server_pid" 2>/dev/null
server_pid=""
pass "server stopped by its PID"
finish
