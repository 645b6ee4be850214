#!/usr/bin/env bash
# What unauthenticated traffic costs herald: starts the release `herald serve` on a fresh
# SQLite store (worker off), then, RUNS times, sends 16 bodies of 25 MB at once with a
# signature that does not match (each must be read to be refused) and reads herald's peak
# resident memory (VmHWM), times how long a connection that stalls in its headers, and
# one that stalls in its body, stay open, then opens 500 connections that each send 100 KB
# of one header line that never ends, and reads the peak again. Prints each run.
# Usage: benches/hostile/run.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
cargo build --release --quiet
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for run in $(seq "$runs"); do
  port=$((40000 + RANDOM % 20000))
  rm -f "$work"/bench.db*
  HERALD_DATABASE_URL="sqlite://$work/bench.db" HERALD_LISTEN="127.0.0.1:$port" \
    HERALD_WEBHOOK_SECRET=bench-secret HERALD_WORKER_ENABLED=false \
    target/release/herald serve 2>/dev/null &
  server=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  python3 - "$port" "$server" "$run" <<'PY'
import socket, sys, threading, time
port, pid, run = int(sys.argv[1]), sys.argv[2], sys.argv[3]

def peak_mib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

def exchange(request, answers):
    with socket.create_connection(("127.0.0.1", port)) as conn:
        try:
            conn.sendall(request)
        except OSError:
            pass
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
        answers.append(answer[9:12].decode() or "closed")

idle = peak_mib()
size = 25 * 1024 * 1024
head = (f"POST /webhooks HTTP/1.1\r\nHost: herald\r\nContent-Type: application/json\r\n"
        f"X-GitHub-Event: ping\r\nX-GitHub-Delivery: forged\r\n"
        f"X-Hub-Signature-256: sha256={'0' * 64}\r\nContent-Length: {size}\r\n"
        f"Connection: close\r\n\r\n").encode()
forged = head + b" " * size
answers = []
started = time.monotonic()
threads = [threading.Thread(target=exchange, args=(forged, answers)) for _ in range(16)]
for thread in threads: thread.start()
for thread in threads: thread.join()
took = time.monotonic() - started
loaded = peak_mib()

def stalled(request):
    started = time.monotonic()
    answers = []
    exchange(request, answers)
    return time.monotonic() - started, answers[0]

headers = stalled(b"POST /webhooks HTTP/1.1\r\nHost: x\r\n")
body = stalled(b"POST /webhooks HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: sha256=" + b"0" * 64
               + b"\r\nContent-Length: 1000\r\n\r\n{")
unfinished = b"POST /webhooks HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 100_000
flood_answers = []
threads = [threading.Thread(target=exchange, args=(unfinished, flood_answers)) for _ in range(500)]
for thread in threads: thread.start()
for thread in threads: thread.join()
flooded = peak_mib()
print(f"run {run}: peak {idle:.1f} MiB idle, {loaded:.1f} MiB after 16 x 25 MB unsigned "
      f"(answers {sorted(set(answers))}, {took:.1f} s); stalled headers closed after "
      f"{headers[0]:.1f} s ({headers[1]}), stalled body after {body[0]:.1f} s ({body[1]}); "
      f"{flooded:.1f} MiB after 500 unfinished 100 KB headers (answers {sorted(set(flood_answers))})")
PY
  kill "$server"; wait "$server" 2>/dev/null || true
done
