#!/usr/bin/env bash
# Scale-out figures: N cubby nodes (default: 1, then 3) on one fresh PostgreSQL database and a
# shared blob directory. For each N:
#   - 4 KiB PUT ops/s: one cubby-bench per node, all at once (ops/s add up; --small-kib 4);
#   - credential mints/s: cubby-bench --idpool (returning guests: GetCredentialsForIdentity)
#     against node 1 alone (its setup names one pool; the other nodes only add contention);
#   - CPU per request per node, from /proc/<pid>/stat (user+sys) over the PUT cell;
#   - PostgreSQL statements (= round trips: each is one extended-protocol exchange, BEGIN and
#     COMMIT included) per PUT, counted from the server log with log_statement=all set on the
#     bench database only, for a sequential and a concurrent phase.
#
#   bench/scale.sh                      # release build (cargo build --release first)
#   BENCH_PROFILE=debug bench/scale.sh  # the debug build: figures are NOT representative
#   BENCH_NODES="1 3" BENCH_DURATION=10 BENCH_CONCURRENCY=16 bench/scale.sh
#   BENCH_PG=postgres://postgres@127.0.0.1:5432 (the server; a database is created and dropped)
#   BENCH_PG_LOG=/var/log/postgresql/postgresql-15-main.log (readable: the round-trip count)
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${BENCH_PROFILE:-release}
NODES=${BENCH_NODES:-"1 3"}
DURATION=${BENCH_DURATION:-10}
CONC=${BENCH_CONCURRENCY:-16}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
PG_LOG=${BENCH_PG_LOG:-/var/log/postgresql/postgresql-15-main.log}
AK=cubbybenchaccesskey
SK=cubbybenchsecretkey0123456789abcdefghij
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
    grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
BIN=$TARGET_DIR/$PROFILE
for b in cubby cubby-bench; do
    [[ -x $BIN/$b ]] || { echo "$BIN/$b missing: cargo build --${PROFILE/debug/profile=dev} -p cubby -p cubby-bench" >&2; exit 1; }
done
[[ $PROFILE == release ]] || echo "!! $PROFILE build: throughput and CPU figures are not representative"

WORK=$(mktemp -d /tmp/cubby-scale.XXXXXX)
DB="cubby_bench_$$"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    psql "$PG/postgres" -qc "drop database if exists $DB with (force)" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Statements the log recorded for sessions on the bench database since line $1 (the log line
# prefix is "[pid] user@database").
statements_since() {
    tail -n +"$1" "$PG_LOG" | grep -E "@$DB LOG:  (statement|execute)" | grep -vc "pg_stat_activity" || true
}

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/master.key"
mkdir -p "$WORK/blobs"
export CUBBY_MASTER_KEY_FILE=$WORK/master.key CUBBY_ROOT_ACCESS_KEY_ID=$AK CUBBY_ROOT_SECRET_ACCESS_KEY=$SK
echo "# nothing" >"$WORK/empty.toml"
echo "== machine: $(nproc) cores; PostgreSQL $(psql "$PG/postgres" -qAtc 'show server_version')"

for n in $NODES; do
    psql "$PG/postgres" -qc "drop database if exists $DB with (force)"
    psql "$PG/postgres" -qc "create database $DB"
    psql "$PG/postgres" -qc "alter database $DB set log_statement = 'all'"
    NODE_PIDS=() ENDPOINTS=()
    for i in $(seq 1 "$n"); do
        port=$(free_port)
        mkdir -p "$WORK/n$n-$i"
        "$BIN/cubby" serve --listen "127.0.0.1:$port" --data-dir "$WORK/n$n-$i" \
            --config "$WORK/empty.toml" --metadata-url "$PG/$DB" \
            --blob-url "file://$WORK/blobs" >"$WORK/n$n-$i.log" 2>&1 &
        NODE_PIDS+=("$!") PIDS+=("$!") ENDPOINTS+=("http://127.0.0.1:$port")
        for _ in $(seq 1 300); do port_open "$port" && break; sleep 0.1; done
    done
    echo
    echo "== $n node(s): ${ENDPOINTS[*]}"

    # Round trips per PUT: 200 sequential PUTs, then the concurrent cell below.
    line0=$(($(wc -l <"$PG_LOG") + 1))
    "$BIN/cubby-bench" --endpoint "${ENDPOINTS[0]}" --access-key $AK --secret $SK \
        --duration 2 --concurrency 1 --big-mib 1 --runs 1 --small-kib 4 >"$WORK/seq.out" 2>&1 || true
    seq_puts=$(grep -E "^PUT" "$WORK/seq.out" | head -1 | awk '{print $0}')
    echo "   sequential warm-up (c=1, 2 s) done: $seq_puts"

    # The PUT cell: one generator per node, at once.
    declare -A cpu0
    for p in "${NODE_PIDS[@]}"; do cpu0[$p]=$(cpu_ticks "$p"); done
    line1=$(($(wc -l <"$PG_LOG") + 1))
    BENCH_PIDS=()
    for i in $(seq 1 "$n"); do
        "$BIN/cubby-bench" --endpoint "${ENDPOINTS[$((i - 1))]}" --pid "${NODE_PIDS[$((i - 1))]}" \
            --access-key $AK --secret $SK \
            --duration "$DURATION" --concurrency "$CONC" --big-mib 1 --runs 1 --small-kib 4 \
            >"$WORK/put-$n-$i.out" 2>&1 &
        BENCH_PIDS+=("$!")
    done
    for b in "${BENCH_PIDS[@]}"; do wait "$b" || true; done
    stmts=$(statements_since "$line1")
    for i in $(seq 1 "$n"); do
        p=${NODE_PIDS[$((i - 1))]}
        echo "   node $i: CPU $(( $(cpu_ticks "$p") - ${cpu0[$p]} )) ticks (1/100 s) during the whole cell"
        grep -E "^(PUT|GET|HEAD|LIST|DELETE)" "$WORK/put-$n-$i.out" | sed 's/^/     /' || cat "$WORK/put-$n-$i.out"
    done
    echo "   PostgreSQL statements logged during the cells above: $stmts (divide by the PUT+DELETE count)"
    echo "   log lines from the c=1 warm-up: $(statements_since "$line0")"

    # Credential mints: returning guests against node 1.
    "$BIN/cubby-bench" --endpoint "${ENDPOINTS[0]}" --pid "${NODE_PIDS[0]}" --access-key $AK --secret $SK \
        --duration "$DURATION" --idpool --idpool-cells returning --concurrency "$CONC" 2>&1 |
        grep -E "returning|GetCredentials" | sed 's/^/   /' || true

    for p in "${NODE_PIDS[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
done
