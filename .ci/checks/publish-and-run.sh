#!/usr/bin/env bash
# What the container does, without a Docker engine: publish exactly as docker/Dockerfile does (docker/publish.sh),
# start the published app as the image's entrypoint would (its environment variables, port 8080, working directory,
# a non-root user) on a model in a /models-like folder, then smoke-test /health, /generate, /v1/chat/completions, the
# --healthcheck probe, and every curl command in README's "Server", "OpenAI-compatible API" and "Beyond the context
# window" sections, so the README cannot rot. Then start it again with no model configured and no network (a proxy
# that refuses every connection): it serves the default model it carries at once, as `docker compose up` does. The
# server listens on 127.0.0.1 only and is stopped by its PID.
# Last line: "N passed, N failed"; exit code non-zero on any failure.
source "$(dirname "$0")/../check-lib.sh"

require_models


# 1. Publish as the Dockerfile does: restore, then the shared publish script.
if dotnet restore Llama2.Server/Llama2.Server.csproj >"$work/publish.log" 2>&1 \
   && sh docker/publish.sh "$work/app" >>"$work/publish.log" 2>&1; then
  pass "published with docker/publish.sh"
else
  cat "$work/publish.log" >&2
  fail "published with docker/publish.sh"
  finish
fi
chmod -R a+rX "$work/app"

# The image runs as a non-root user; do the same when we can.
run_as=()
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  id llama2app >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin llama2app
  run_as=(setpriv --reuid=llama2app --regid=llama2app --clear-groups)
  echo "running as user llama2app"
fi

# /models holds the weights (a volume in the container).
mkdir -p "$work/models" "$work/home"
chmod 777 "$work/home"
ln -s "$model" "$work/models/stories15M.bin"
ln -s "$tokenizer" "$work/models/tokenizer.bin"

if curl -s -o /dev/null --max-time 2 http://127.0.0.1:8080/; then
  fail "port 8080 is free (something already answers there)"
  finish
fi

# 2. Start it as the entrypoint would: WORKDIR /app, the image's environment plus a model in the volume, port 8080,
# but bound to loopback only.
(cd "$work/app" && exec env HOME="$work/home" \
   ASPNETCORE_HTTP_PORTS=8080 ASPNETCORE_URLS=http://127.0.0.1:8080 \
   Model__CheckpointPath="$work/models/stories15M.bin" Model__TokenizerPath="$work/models/tokenizer.bin" \
   "${run_as[@]}" dotnet "$work/app/Llama2.Server.dll") >"$work/server.log" 2>&1 &
server_pid=$!

if ! wait_healthy http://127.0.0.1:8080/health "$server_pid" 300; then
  cat "$work/server.log" >&2
  fail "published server becomes healthy"
  finish
fi
pass "published server becomes healthy"

check "--healthcheck probe says healthy" \
  dotnet "$work/app/Llama2.Server.dll" --healthcheck http://127.0.0.1:8080/health
answer=$(curl -s --max-time 60 http://127.0.0.1:8080/generate -H 'Content-Type: application/json' \
  -d '{"inputs":"Once upon a time","parameters":{"max_new_tokens":8}}')
check "/generate answers generated_text" grep -q '"generated_text":"' <<<"$answer"
answer=$(curl -s --max-time 60 http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \
  -d '{"model":"any","messages":[{"role":"user","content":"Hi"}],"max_tokens":8}')
check "/v1/chat/completions answers a chat.completion" grep -q '"object":"chat.completion"' <<<"$answer"

# 3. Every curl command in README's "Server", "OpenAI-compatible API" and "Beyond the context window" sections, as
# written (fail on HTTP errors, bounded in time).
readme_curls=$(awk '
  /^## / { in_section = ($0 == "## Server" || $0 == "## OpenAI-compatible API" || $0 == "## Beyond the context window") }
  in_section && /^```/ { in_block = !in_block; next }
  in_section && in_block {
    line = $0
    if (cmd != "") { cmd = cmd "\n" line } else if (line ~ /^curl /) { cmd = line } else { next }
    if (line !~ /\\$/) { print cmd; print "\x1e"; cmd = "" }
  }' README.md)
count=0
while IFS= read -r -d $'\x1e' command; do
  command=${command#$'\n'}
  [ -n "$command" ] || continue
  count=$((count + 1))
  output=$(bash -c "${command/curl /curl --fail-with-body --max-time 60 }" 2>&1)
  code=$?
  first_line=$(head -n 1 <<<"$command")
  if [ "$code" -eq 0 ] && [ -n "$output" ]; then pass "README: $first_line"; else echo "$output" >&2; fail "README: $first_line (exit $code)"; fi
done < <(printf '%s' "$readme_curls")
check "README's Server, OpenAI and context sections have curl commands ($count)" test "$count" -ge 9

# 4. Stop by PID; the probe then reports unhealthy.
kill "$server_pid"
wait "$server_pid" 2>/dev/null
server_pid=""
check "--healthcheck probe fails once the server is gone" \
  bash -c "! dotnet '$work/app/Llama2.Server.dll' --healthcheck http://127.0.0.1:8080/health >/dev/null"

# 5. No model configured, no network: the default model published beside the server is served at once.
check "the published app carries the default model" \
  test -f "$work/app/DefaultModel/kjv-3.5M.bin" -a -f "$work/app/DefaultModel/tok2048.bin"
(cd "$work/app" && exec env HOME="$work/home" \
   ASPNETCORE_HTTP_PORTS=8080 ASPNETCORE_URLS=http://127.0.0.1:8080 \
   HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY= \
   "${run_as[@]}" dotnet "$work/app/Llama2.Server.dll") >"$work/server-default.log" 2>&1 &
server_pid=$!
if wait_healthy http://127.0.0.1:8080/health "$server_pid" 300; then
  pass "with no model configured and no network, the default model is served"
else
  cat "$work/server-default.log" >&2
  fail "with no model configured and no network, the default model is served"
  finish
fi
info=$(curl -s --max-time 10 http://127.0.0.1:8080/info)
check "/info names the default model" grep -q '"model_id":"kjv-3.5M"' <<<"$info"
answer=$(curl -s --max-time 60 http://127.0.0.1:8080/generate -H 'Content-Type: application/json' \
  -d '{"inputs":"In the beginning","parameters":{"max_new_tokens":16}}')
check "/generate answers from the default model" grep -q '"generated_text":"' <<<"$answer"
kill "$server_pid"
wait "$server_pid" 2>/dev/null
server_pid=""
finish
