#!/usr/bin/env bash
# A new user's first minutes, measured: a fresh clone of this repository, the README's two commands
# (`npm ci`, `npm start`), the README's curl, then SIGTERM to what `npm start` started.
#   bash bench/first-minutes.sh [port]
# Prints: npm ci's time; npm start to /healthz 200, /readyz 200, the first /rank answer and the
# tuned settings in force; the exit code on SIGTERM. Uses the npm cache as it is (say so when quoting).
set -u
port="${1:-18888}"
token="first-minutes-admin-token"
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
git clone -q "$repo" "$dir/app" && cd "$dir/app"
t0=$(date +%s.%N)
npm ci --no-audit --no-fund >/dev/null 2>&1 || { echo "npm ci failed"; exit 1; }
t1=$(date +%s.%N)
echo "npm ci: $(echo "$t1 - $t0" | bc) s"
PORT="$port" ADMIN_TOKEN="$token" npm start >"$dir/start.log" 2>&1 &
pid=$!
s0=$(date +%s.%N)
until curl -sf "localhost:$port/healthz" >/dev/null; do sleep 0.1; done
s1=$(date +%s.%N)
until curl -sf "localhost:$port/readyz" >/dev/null; do sleep 0.1; done
s2=$(date +%s.%N)
curl -s "localhost:$port/rank" -H 'content-type: application/json' -d '{"query":"write a haiku about rain","k":3}' >/dev/null
s3=$(date +%s.%N)
until curl -s -H "authorization: Bearer $token" "localhost:$port/admin/settings" | grep -q '"source":"tuned"'; do sleep 0.2; done
s4=$(date +%s.%N)
echo "npm start -> /healthz 200: $(echo "$s1 - $s0" | bc) s"
echo "npm start -> /readyz 200: $(echo "$s2 - $s0" | bc) s"
echo "npm start -> first /rank answer: $(echo "$s3 - $s0" | bc) s"
echo "npm start -> tuned settings in force: $(echo "$s4 - $s0" | bc) s"
kill -TERM "$pid"
wait "$pid"
echo "exit on SIGTERM: $?"
