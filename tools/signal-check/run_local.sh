#!/bin/bash
# Starts BINARY (tessera-signal) on a free loopback port with temporary tokens, runs the
# conformance checker against it (admin API and the 1,000-participant room included), stops it.
# Usage: tools/signal-check/run_local.sh .build/debug/tessera-signal   (make signal-check)
set -euo pipefail
binary=${1:?usage: run_local.sh PATH/TO/tessera-signal}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$work/wall.token"
head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$work/admin.token"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$binary" --listen "127.0.0.1:$port" --wall-token-file "$work/wall.token" --admin-token-file "$work/admin.token" \
	2> "$work/server.log" &
pid=$!
for _ in $(seq 100); do
	python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || { echo "signal-check: $binary did not start:"; cat "$work/server.log"; exit 1; }
	sleep 0.1
done
echo "signal-check: $binary on 127.0.0.1:$port"
status=0
/usr/bin/python3 "$here/signal_check.py" "ws://127.0.0.1:$port/signal" --room signal-check --token-file "$work/wall.token" \
	--admin "http://127.0.0.1:$port" --admin-token-file "$work/admin.token" --large-room || status=$?
exit $status
