#!/usr/bin/env bash
# Load run against 1 and N replicas sharing one PostgreSQL database, all on
# this machine (loopback only). Each replica gets its own load generator
# (an equal share of the clients); the table sums their throughput.
#
#   PG=postgres://postgres@127.0.0.1:5432/test?sslmode=disable scripts/replicas.sh [N] [scenario] [duration]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-3}" scenario="${2:-start}" duration="${3:-5s}" clients=16
pg="${PG:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
work=$(mktemp -d)
db="ssooidc_replicas_$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q "$pg" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/ssooidc" ./cmd/ssooidc
go build -o "$work/ssooidc-load" ./cmd/ssooidc-load
psql -q "$pg" -c "CREATE DATABASE $db" >/dev/null
url=$(printf '%s' "$pg" | sed -E "s#^(postgres(ql)?://[^/]*)/[^?]*#\\1/$db#")
export SSOOIDC_DB="$url" SSOOIDC_SECRET_KEY="$("$work/ssooidc" keys generate)" SSOOIDC_DEV=true \
  SSOOIDC_LOG_LEVEL=warn SSOOIDC_LIMIT_DEVICE_START_PER_IP=0 SSOOIDC_MAX_LIVE_DEVICE_GRANTS_PER_CLIENT=0 \
  SSOOIDC_LIMIT_REGISTER_PER_IP=0

run() { # replicas
  local k=$1 total=0 ports=()
  for i in $(seq "$k"); do
    port=$((18100 + i))
    "$work/ssooidc" serve --addr "127.0.0.1:$port" >"$work/serve-$k-$i.log" 2>&1 &
    pids+=($!)
    ports+=("$port")
  done
  for port in "${ports[@]}"; do
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  done
  for port in "${ports[@]}"; do
    "$work/ssooidc-load" -url "http://127.0.0.1:$port" -scenario "$scenario" -c $((clients / k)) \
      -duration "$duration" -grants 2000 -json >"$work/load-$k-$port.json" &
  done
  wait $(jobs -p | tail -n "$k")
  for port in "${ports[@]}"; do
    total=$(python3 -c "import json,sys; print($total + json.load(open('$work/load-$k-$port.json'))['rps'])")
  done
  printf '%d replica(s), %s, %d clients: %.0f req/s\n' "$k" "$scenario" "$clients" "$total"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}
run 1
run "$n"
