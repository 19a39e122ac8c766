# Sourced by the scripts in .ci/checks: counting, and the closing "N passed, N failed" line .ci/run reads.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
shared="${LLAMA2_SHARED:-$repo/../shared}"
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1" >&2; }
check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

# A scratch folder (readable by a non-root user too) and the server a check starts, both gone when the check ends.
work=$(mktemp -d)
chmod 755 "$work"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# A free TCP port on the loopback interface.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null \
    || echo $((20000 + RANDOM % 30000))
}

# Polls URL until it answers 200 while process $2 lives (up to $3 tries, 0.2 s apart); never a fixed sleep.
wait_healthy() {
  local url=$1 pid=$2 tries=${3:-300}
  for _ in $(seq 1 "$tries"); do
    if [ "$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$url")" = "200" ]; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

# The test models every check serves: sets $model (tiny32k) and $tokenizer as absolute paths, or fails the check.
require_models() {
  if [ ! -f "$shared/models/tiny32k.bin" ] || [ ! -f "$shared/models/tokenizer.bin" ]; then
    echo "test models not found under $shared/models (set LLAMA2_SHARED)" >&2
    fail "test models present"
    finish
  fi
  shared=$(cd "$shared" && pwd)
  model="$shared/models/tiny32k.bin"
  tokenizer="$shared/models/tokenizer.bin"
}
