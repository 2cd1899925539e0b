#!/usr/bin/env bash
# Reproduces the table in docs/performance.md on this machine, in one command:
#
#   scripts/perf.sh
#
# It builds ssooidc and ssooidc-load, runs the server on core 0 alone
# (taskset -c 0, GOMAXPROCS=1) with an embedded SQLite store, and a bare
# net/http handler the same way as the baseline, then drives each scenario
# from core 1. Each round measures the baseline and every scenario in turn,
# so that the machine's noise falls on all of them alike; the table shows
# the medians, each with its ratio to the baseline's median. Then each
# scenario runs open-loop at half its peak for the p99 latency, and the
# bare handler at half its own for what the machine allows (three times,
# taking turns; the table shows the median), and the engine benchmark
# shows the pending-poll cost with 100 and with 100 000 live grants.
#
# Environment:
#   PERF_RUNS       rounds (3)
#   PERF_HALF_RUNS  open-loop runs at half the peak per scenario, and of
#                   the bare handler at half its own (3); the table shows
#                   the scenarios' median p99, and each run below it
#   PERF_DURATION   measured time per run (10s)
#   PERF_C          concurrent clients (16)
#   PERF_GRANTS     pending grants polled (32000)
#   PERF_SPIN       1 (default): the generator waits for answers spinning
#                   (ssooidc-load -spin), so its idle CPU never has to be
#                   woken by the server's writes; 0: it sleeps in epoll
#   PERF_POSTGRES   a postgres:// URL: measure that backend too, in a
#                   database of its own created there (and dropped after);
#                   or "private": start a throwaway cluster pinned to the
#                   server's core (needs Debian's PostgreSQL binaries)
#   PERF_OUT        where to keep the JSON results (a temporary directory)
# Only 127.0.0.1 is ever contacted.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${PERF_RUNS:-3}
half_runs=${PERF_HALF_RUNS:-3}
duration=${PERF_DURATION:-10s}
conc=${PERF_C:-16}
grants=${PERF_GRANTS:-32000}
spin=()
[ "${PERF_SPIN:-1}" = 0 ] || spin=(-spin)
out=${PERF_OUT:-$(mktemp -d /tmp/ssooidc-perf.XXXXXX)}
mkdir -p "$out"
server_core=0
load_core=1
if [ "$(nproc)" -lt 2 ]; then
  echo "perf.sh needs two cores: one for the server, one for the load" >&2
  exit 1
fi

echo "== building into $out"
go build -o "$out/ssooidc" ./cmd/ssooidc
go build -o "$out/ssooidc-load" ./cmd/ssooidc-load

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + RANDOM % 20000))
}

wait_http() { # URL
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/${1##*:}") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing answers at $1" >&2
  return 1
}

# One master key and one user for every server this script starts; the
# refresh scenario signs in as that user to approve its grants.
key=$("$out/ssooidc" keys generate)
user=perf
password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
export SSOOIDC_SECRET_KEY=$key

# start_server NAME DB: adds the user, then starts ssooidc serve --dev (any
# start URL) on core 0; sets server_pid and server_url.
start_server() {
  local name=$1 db=$2 port
  printf '%s\n' "$password" | "$out/ssooidc" user add "$user" --password-stdin --db "$db" >"$out/$name.user" 2>&1 ||
    { cat "$out/$name.user" >&2; echo "use a fresh database" >&2; exit 1; }
  port=$(free_port)
  # Abuse limits off: the load comes from one address and one client.
  taskset -c $server_core env GOMAXPROCS=1 SSOOIDC_LOG_LEVEL=warn \
    SSOOIDC_LIMIT_REGISTER_PER_IP=0 SSOOIDC_LIMIT_DEVICE_START_PER_IP=0 \
    SSOOIDC_MAX_LIVE_DEVICE_GRANTS_PER_CLIENT=0 \
    "$out/ssooidc" serve --dev --db "$db" --addr "127.0.0.1:$port" \
    >"$out/$name.out" 2>"$out/$name.err" &
  server_pid=$!
  pids+=("$server_pid")
  server_url="http://127.0.0.1:$port"
  wait_http "$server_url"
}

port=$(free_port)
taskset -c $server_core env GOMAXPROCS=1 "$out/ssooidc-load" -bare-listen "127.0.0.1:$port" >"$out/bare.out" 2>&1 &
bare_pid=$!
pids+=("$bare_pid")
bare_url="http://127.0.0.1:$port"
wait_http "$bare_url"

# load NAME URL PID SCENARIO [flags]: one run, JSON into $out/NAME.json.
load() {
  local name=$1 url=$2 pid=$3 scenario=$4
  shift 4
  taskset -c $load_core "$out/ssooidc-load" -url "$url" -pid "$pid" -scenario "$scenario" \
    -c "$conc" -duration "$duration" -grants "$grants" -user "$user" -password "$password" -json "${spin[@]}" "$@" \
    >"$out/$name.json" 2>"$out/$name.log"
}

field() { # FILE KEY: a number from a result
  sed -n "s/.*\"$2\": \([0-9.e+-]*\).*/\1/p" "$1" | head -1
}
errors() { # FILE: total errors
  awk '/"errors": \{\}/{print 0; exit}
       /"errors": \{/{on=1; next}
       on && /^ *\}/{print s+0; exit}
       on{v=$NF; gsub(/[^0-9]/, "", v); s+=v}' "$1"
}
median() { sort -g | awk '{a[NR]=$1} END{if(NR==0){print 0}else if(NR%2){print a[(NR+1)/2]}else{print (a[NR/2]+a[NR/2+1])/2}}'; }

scenarios=(start pending refresh)

# measure BACKEND URL PID: rounds of bare + each scenario, then half-peak runs.
measure() {
  local backend=$1 url=$2 pid=$3 r q s peak half
  for r in $(seq "$runs"); do
    echo "== $backend round $r/$runs"
    load "bare-$backend-$r" "$bare_url" "$bare_pid" bare
    echo "   bare     $(field "$out/bare-$backend-$r.json" rps) req/s"
    for s in "${scenarios[@]}"; do
      load "$s-$backend-$r" "$url" "$pid" "$s"
      echo "   $(printf %-8s "$s") $(field "$out/$s-$backend-$r.json" rps) req/s, errors $(errors "$out/$s-$backend-$r.json")"
    done
  done
  # The half-peak runs take turns like the rounds, so that a slow moment of
  # the machine falls on one run of one scenario, not on all of them. The
  # bare handler runs at half its own peak too: what the machine allows.
  for r in $(seq "$half_runs"); do
    for s in bare "${scenarios[@]}"; do
      peak=$(for q in $(seq "$runs"); do field "$out/$s-$backend-$q.json" rps; done | median)
      half=$(awk -v p="$peak" 'BEGIN{printf "%d", p/2}')
      if [ "$s" = bare ]; then
        load "$s-$backend-half-$r" "$bare_url" "$bare_pid" "$s" -rate "$half"
      else
        load "$s-$backend-half-$r" "$url" "$pid" "$s" -rate "$half"
      fi
      echo "== $backend $s open-loop at $half req/s (half of the median peak), run $r/$half_runs:" \
        "p99 $(field "$out/$s-$backend-half-$r.json" p99) ms"
    done
  done
  echo "== $backend refresh with 64 independent chains"
  conc=64 load "refresh64-$backend" "$url" "$pid" refresh
}

report() { # BACKEND
  local backend=$1 s r f bare bare_cpu peak ratio p99 half_p99 errs rss rss1 cpu cost others
  bare=$(for r in $(seq "$runs"); do field "$out/bare-$backend-$r.json" rps; done | median)
  bare_cpu=$(for r in $(seq "$runs"); do field "$out/bare-$backend-$r.json" cpu_us_per_request; done | median)
  others=$(for f in "$out"/*-"$backend"-*.json; do field "$f" others_on_cpu_pct; done | median)
  echo
  echo "Backend $backend: medians of $runs runs of $duration, $conc clients; bare handler $(printf %.0f "$bare") req/s, $(printf %.1f "$bare_cpu") µs CPU per request"
  echo "(other processes used a median $(printf %.0f "$others") % of core $server_core during the runs)"
  printf '| %-9s | %9s | %8s | %11s | %12s | %11s | %10s | %6s | %20s |\n' scenario "req/s" "of bare" "p99 at peak" "p99 at half" "CPU µs/req" "CPU ratio" errors "peak RSS (1st / all)"
  printf '|%s|\n' "-----------|-----------|----------|-------------|--------------|-------------|------------|--------|----------------------"
  for s in "${scenarios[@]}"; do
    peak=$(for r in $(seq "$runs"); do field "$out/$s-$backend-$r.json" rps; done | median)
    p99=$(for r in $(seq "$runs"); do field "$out/$s-$backend-$r.json" p99; done | median)
    cpu=$(for r in $(seq "$runs"); do field "$out/$s-$backend-$r.json" cpu_us_per_request; done | median)
    ratio=$(awk -v a="$peak" -v b="$bare" 'BEGIN{printf "%.1f %%", 100*a/b}')
    cost=$(awk -v a="$bare_cpu" -v b="$cpu" 'BEGIN{printf "%.1f %%", 100*a/b}')
    half_p99=$(for r in $(seq "$half_runs"); do field "$out/$s-$backend-half-$r.json" p99; done | median)
    errs=0
    for f in "$out/$s-$backend"-*.json; do errs=$((errs + $(errors "$f"))); done
    # Each run's own peak: the first round's, and the largest of all (the
    # server's live state grows with the grants started through the session).
    rss1=$(field "$out/$s-$backend-1.json" peak_rss_mib)
    rss=$(for f in "$out/$s-$backend"-*.json; do field "$f" peak_rss_mib; done | sort -g | tail -1)
    printf '| %-9s | %9.0f | %8s | %8.2f ms | %9.2f ms | %11.1f | %10s | %6d | %7.1f / %6.1f MiB |\n' \
      "$s" "$peak" "$ratio" "$p99" "$half_p99" "$cpu" "$cost" "$errs" "$rss1" "$rss"
  done
  # Every half-peak run, with how often the generator itself was held up
  # over 5 ms (ssooidc-load's generator_pauses: a stall may be its own).
  echo "p99 at half peak, each run (the server's core busy; times the generator was held up over 5 ms, the longest):"
  for s in bare "${scenarios[@]}"; do
    local each=""
    for r in $(seq "$half_runs"); do
      f="$out/$s-$backend-half-$r.json"
      each+=" $(field "$f" p99) ms ($(printf %.0f "$(field "$f" cpu_pct)") %; $(field "$f" over_5ms)×, $(field "$f" max_ms) ms),"
    done
    echo "  $(printf %-8s "$s")${each%,}"
  done
  if [ -f "$out/refresh64-$backend.json" ]; then
    echo "refresh with 64 independent chains: $(printf %.0f "$(field "$out/refresh64-$backend.json" rps)") req/s, errors $(errors "$out/refresh64-$backend.json")"
  fi
}

start_server sqlite "$out/ssooidc.db"
measure sqlite "$server_url" "$server_pid"
backends=(sqlite)

if [ "${PERF_POSTGRES:-}" = private ]; then
  # A throwaway PostgreSQL cluster pinned to the server's core, as the
  # documented setup has it (Debian's PostgreSQL binaries, run as postgres).
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  pgdir=$(mktemp -d /tmp/ssooidc-perf-pg.XXXXXX)
  chown postgres "$pgdir"
  runuser -u postgres -- "$pgbin/initdb" -D "$pgdir/data" -A trust -U postgres >"$out/pg-initdb.log"
  pgport=$(free_port)
  runuser -u postgres -- taskset -c $server_core "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/pg.log" -w \
    -o "-p $pgport -k $pgdir -c listen_addresses=127.0.0.1" start >/dev/null
  stop_pg() {
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdir/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$pgdir"
  }
  trap 'cleanup; stop_pg' EXIT
  PERF_POSTGRES="postgres://postgres@127.0.0.1:$pgport/postgres?sslmode=disable"
  pg_private=1
fi

if [ -n "${PERF_POSTGRES:-}" ]; then
  # A database of its own, dropped at the end.
  pgdb=ssooidc_perf_$$
  psql -q "$PERF_POSTGRES" -c "CREATE DATABASE $pgdb"
  pgurl=$(printf '%s' "$PERF_POSTGRES" | sed -E "s#^(postgres(ql)?://[^/]*)/[^?]*#\\1/$pgdb#")
  if [ -z "${pg_private:-}" ]; then
    trap 'cleanup; psql -q "$PERF_POSTGRES" -c "DROP DATABASE IF EXISTS $pgdb" || true' EXIT
  fi
  start_server postgres "$pgurl"
  measure postgres "$server_url" "$server_pid"
  backends+=(postgres)
fi

echo
echo "== engine: pending-poll cost with 100 and 100 000 live grants (core $server_core)"
SSOOIDC_BENCH_LIVE_GRANTS=100000 taskset -c $server_core \
  go test -run '^$' -bench 'EnginePendingPoll' -cpu 1 -benchtime 3s ./internal/oauth | tee "$out/bench-live.txt" | grep -E '^Benchmark'

echo
echo "Machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(go version | cut -d' ' -f3); generator ${spin[*]:-sleeping in epoll}"
for b in "${backends[@]}"; do report "$b"; done
echo
echo "Results (JSON per run) in $out"
