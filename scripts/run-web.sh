#!/usr/bin/env bash
# `make web`: the local stack (todo-dev) and the built front end (frontend/out) side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-8000}"
WEB_PORT="${WEB_PORT:-3000}"
BIN=.venv/bin

test -f frontend/out/index.html || { echo "frontend/out is missing: run make web" >&2; exit 1; }
export CORS_ALLOW_ORIGINS="${CORS_ALLOW_ORIGINS:-[\"http://127.0.0.1:${WEB_PORT}\",\"http://localhost:${WEB_PORT}\"]}"

pids=()
stop() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop EXIT
trap 'exit 130' INT TERM

PORT="$PORT" "$BIN/todo-dev" &
pids+=($!)
"$BIN/python" -m http.server "$WEB_PORT" --bind 127.0.0.1 --directory frontend/out >/dev/null 2>&1 &
pids+=($!)

# The stack imports the agent and starts moto first: give it up to a minute.
for _ in $(seq 1 300); do
  "$BIN/python" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:${PORT}/healthz', timeout=1)" \
    >/dev/null 2>&1 && break
  sleep 0.2
done
echo
echo "Todo dashboard: http://127.0.0.1:${WEB_PORT}   (backend http://127.0.0.1:${PORT}; Ctrl-C stops both)"
echo
wait -n
