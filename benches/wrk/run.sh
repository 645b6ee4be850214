#!/usr/bin/env bash
# Ingest throughput with wrk (apt install wrk) as a lighter load generator than the Rust
# benchmark's HTTP client: starts the release `herald serve` on a fresh SQLite store and
# sends signed ~20 KB deliveries on CONNECTIONS connections for SECONDS, each body its own
# (ingest.lua signs each with OpenSSL's libcrypto through LuaJIT's FFI).
# Usage: benches/wrk/run.sh [CONNECTIONS] [SECONDS]   (HERALD_WORKER_ENABLED=false: ingest alone;
# HERALD_BIN=path: that herald binary instead of this checkout's release build)
set -euo pipefail
cd "$(dirname "$0")/../.."
connections=${1:-128}
seconds=${2:-10}
command -v wrk >/dev/null || { echo "wrk is needed: apt install wrk" >&2; exit 1; }
bin=${HERALD_BIN:-target/release/herald}
[ -n "${HERALD_BIN:-}" ] || cargo build --release --quiet
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
words = ("the a of to in is that for parser buffer overflow attacker remote request header "
         "length crafted input allows memory heap read write when server client token").split()
advisory = json.load(open("tests/fixtures/repository_advisory.reported.composed.json"))
state, pad = 12345, []
while len(json.dumps(advisory, separators=(",", ":"))) + len(" ".join(pad)) < 20480:
    state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
    pad.append(words[(state >> 33) % len(words)])
advisory["repository_advisory"]["description"] += " " + " ".join(pad)
body = json.dumps(advisory, separators=(",", ":")).encode()
open(f"{work}/body.json", "wb").write(body)
PY
port=39$((RANDOM % 90 + 10))
HERALD_DATABASE_URL="sqlite://$work/bench.db" HERALD_LISTEN="127.0.0.1:$port" \
  HERALD_WEBHOOK_SECRET=bench-secret "$bin" serve 2>/dev/null &
server=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
BODY="$work/body.json" SECRET=bench-secret \
  wrk -t1 -c"$connections" -d"${seconds}s" --latency -s benches/wrk/ingest.lua "http://127.0.0.1:$port"
# Each request's body is its own, so every 202 is a stored delivery (a repeated body would
# be answered 200 duplicate, which wrk also counts as a success).
python3 -c "import sqlite3, sys; print('stored deliveries:', sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM deliveries').fetchone()[0])" "$work/bench.db"
