#!/usr/bin/env bash
# Build cubby and the load generator in release, start cubby and s3s-fs on
# free loopback ports (BENCH_PORT_BASE..+99, default 9400-9499) with fresh temp
# data dirs, run the same load against both, print the table, clean up.
# Bounded: the load generator is killed after BENCH_TIMEOUT seconds (default 420).
#
#   bench/run.sh                 # defaults: 10 s per small cell, 3 x 256 MiB
#   BENCH_DURATION=5 bench/run.sh
#   bench/run.sh --unsigned-payload   # extra args go to cubby-bench
#   bench/run.sh --userpool      # user pools: SRP sign-ins/s, ID-token verifications/s,
#                                # 4 KiB PUT latency alone and with 50 sign-ins/s (cubby only;
#                                # the client SRP math of those sign-ins is done between the
#                                # PUT slices, as real clients do it on their own devices)
#   bench/run.sh --userpool --signin-rate 0.1 --burn-ms-per-s 450   # its control: instead of
#                                # sign-ins, an idle-class thread burns that much CPU per second
#                                # (set it to the sign-in cell's server CPU per sign-in × 50)
#                                # during the same PUT slices
#   bench/run.sh --events       # upload events: 4 KiB PUT ops/s with vs without a notification
#                                # configuration (paired per run, with the sign test's interval
#                                # for the paired medians), and the dispatcher's drain rate to
#                                # NATS JetStream (private nats-server instances; cubby only)
#   bench/run.sh --rules        # upload rules: 4 KiB PUT ops/s by an IAM user without rules,
#                                # with size/type/rate rules, with quotas; one big PUT without
#                                # and with rules (cubby only)
#   BENCH_PORT_BASE=9600 bench/run.sh --idpool   # identity pools: GetCredentialsForIdentity
#                                # (returning guest) and GetId+GetCredentialsForIdentity
#                                # pairs/s at c=1,16,64 (cubby only)
#   bench/run.sh --upstream     # blob store upstream: cubby with --blob-url s3://… into a second
#                                # cubby vs that cubby on its local filesystem (no s3s-fs)
#   BENCH_PROFILE=debug bench/run.sh …   # use target/debug (no release build; slow, say so)
#   BENCH_CUBBY_BIN=/tmp/cubby-old bench/run.sh --events   # another cubby binary (A/B)
#   BENCH_BROKER_CORE=1 bench/run.sh --events   # the NATS servers on core 1 alone, cubby and
#                                # the load generator on the other cores: the broker's CPU no
#                                # longer competes with cubby's, as on a broker of its own
#   BENCH_METADATA_URL=postgres://…/fresh_db bench/run.sh --rules   # cubby's metadata on
#                                # PostgreSQL (give it an empty database)
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${BENCH_DURATION:-10}
TIMEOUT=${BENCH_TIMEOUT:-420}
S3S_ROOT=${S3S_FS_ROOT:-/tmp/s3s-fs}
S3S_FS=$S3S_ROOT/bin/s3s-fs
AK=cubbybenchaccesskey
SK=cubbybenchsecretkey0123456789abcdefghij
PORT_BASE=${BENCH_PORT_BASE:-9400}
USERPOOL=0
EVENTS=0
UPSTREAM=0
PROFILE=${BENCH_PROFILE:-release}
ARGS=()
for arg in "$@"; do
    # These measure cubby alone (no s3s-fs).
    [[ $arg == --userpool || $arg == --idpool || $arg == --events || $arg == --rules ]] && USERPOOL=1
    [[ $arg == --events ]] && EVENTS=1
    # --upstream is this script's, not cubby-bench's.
    if [[ $arg == --upstream ]]; then UPSTREAM=1; else ARGS+=("$arg"); fi
done
set -- "${ARGS[@]}"

TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
    grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)

# BENCH_CUBBY_BIN: run another cubby binary (e.g. a copy of an older build, for an A/B).
CUBBY_BIN=${BENCH_CUBBY_BIN:-$TARGET_DIR/$PROFILE/cubby}

PROFILE_FLAG=--release
[[ $PROFILE == debug ]] && PROFILE_FLAG=
echo "== build: cargo build $PROFILE_FLAG -p cubby -p cubby-bench"
SECONDS=0
cargo build $PROFILE_FLAG -p cubby -p cubby-bench
echo "== build took ${SECONDS} s (including any wait for the cargo lock)"
if [[ $USERPOOL == 0 && $UPSTREAM == 0 && ! -x $S3S_FS ]]; then
    echo "== install: cargo install s3s-fs@0.14.1 --features binary --locked --root $S3S_ROOT"
    cargo install s3s-fs@0.14.1 --features binary --locked --root "$S3S_ROOT"
fi

WORK=$(mktemp -d /tmp/cubby-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port [EXCEPT…]: a port in PORT_BASE..+99 that nothing listens on and that is none of
# EXCEPT (ports already handed out whose servers may not listen yet); random start, so
# concurrent runs on the same machine rarely pick the same one.
free_port() {
    local start=$((RANDOM % 100)) i p
    for i in $(seq 0 99); do
        p=$((PORT_BASE + (start + i) % 100))
        if [[ " $* " != *" $p "* ]] && ! port_open "$p"; then
            echo "$p"
            return
        fi
    done
    echo "no free port in $PORT_BASE-$((PORT_BASE + 99))" >&2
    return 1
}

# wait_ready PID PORT NAME: up to 30 s for PID to accept connections on PORT.
wait_ready() {
    local i
    for i in $(seq 1 300); do
        if ! kill -0 "$1" 2>/dev/null; then
            echo "$3 exited during start-up; its log:" >&2
            cat "$WORK/$3.log" >&2
            return 1
        fi
        port_open "$2" && return 0
        sleep 0.1
    done
    echo "$3 did not listen on 127.0.0.1:$2 within 30 s" >&2
    return 1
}

CUBBY_PORT=$(free_port)
mkdir -p "$WORK/cubby-data" "$WORK/s3s-data"

if [[ $UPSTREAM == 1 ]]; then
    # `upstream`: a plain cubby on its local filesystem, with bucket `blobs`. `node`: a cubby
    # whose blobs live in upstream's `blobs` bucket. The same load runs against both, so the
    # table compares cubby→cubby-upstream (first column) with local-filesystem cubby.
    UP_PORT=$(free_port)
    printf '[[bucket]]\nname = "blobs"\n' >"$WORK/upstream.toml"
    CUBBY_ROOT_ACCESS_KEY_ID=$AK CUBBY_ROOT_SECRET_ACCESS_KEY=$SK \
        "$CUBBY_BIN" serve --listen "127.0.0.1:$UP_PORT" \
        --data-dir "$WORK/s3s-data" --config "$WORK/upstream.toml" >"$WORK/upstream.log" 2>&1 &
    UP_PID=$!
    PIDS+=("$UP_PID")
    wait_ready "$UP_PID" "$UP_PORT" upstream
    for _ in $(seq 1 300); do
        curl -fs "http://127.0.0.1:$UP_PORT/_cubby/ready" >/dev/null && break
        sleep 0.1
    done
    NODE_PORT=$(free_port "$UP_PORT")
    CUBBY_ROOT_ACCESS_KEY_ID=$AK CUBBY_ROOT_SECRET_ACCESS_KEY=$SK \
        CUBBY_BLOB_ACCESS_KEY_ID=$AK CUBBY_BLOB_SECRET_ACCESS_KEY=$SK \
        "$CUBBY_BIN" serve --listen "127.0.0.1:$NODE_PORT" \
        --data-dir "$WORK/cubby-data" \
        --blob-url "s3://blobs/node?endpoint=http://127.0.0.1:$UP_PORT&region=us-east-1" \
        >"$WORK/node.log" 2>&1 &
    NODE_PID=$!
    PIDS+=("$NODE_PID")
    wait_ready "$NODE_PID" "$NODE_PORT" node
    sleep 1
    echo "== node (blobs upstream) pid $NODE_PID on 127.0.0.1:$NODE_PORT; upstream (local fs) pid $UP_PID on 127.0.0.1:$UP_PORT; profile $PROFILE"
    echo "== machine: $(nproc) cores, $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "== run: cubby-bench --duration $DURATION $*"
    SECONDS=0
    timeout "$TIMEOUT" "$TARGET_DIR/$PROFILE/cubby-bench" \
        --endpoint "http://127.0.0.1:$NODE_PORT" --pid "$NODE_PID" --name cubby-upstream \
        --compare-endpoint "http://127.0.0.1:$UP_PORT" --compare-pid "$UP_PID" --compare-name cubby-localfs \
        --access-key "$AK" --secret "$SK" --duration "$DURATION" "$@"
    echo "== load run took ${SECONDS} s; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "== note: the upstream cubby also serves the node's blob traffic during the node's cells"
    exit 0
fi

EVENT_ENV=()
# Core pinning (--events with BENCH_BROKER_CORE): prefixes for the broker and for the rest.
PIN_BROKER=()
PIN_REST=()
if [[ $EVENTS == 1 && -n ${BENCH_BROKER_CORE:-} ]]; then
    REST_CORES=$(seq 0 $(($(nproc) - 1)) | grep -vx "$BENCH_BROKER_CORE" | paste -sd,)
    [[ -n $REST_CORES ]] || { echo "BENCH_BROKER_CORE leaves no core for cubby" >&2; exit 1; }
    PIN_BROKER=(taskset -c "$BENCH_BROKER_CORE")
    PIN_REST=(taskset -c "$REST_CORES")
    echo "== pinned: NATS on core $BENCH_BROKER_CORE; cubby and the load generator on core(s) $REST_CORES"
fi
if [[ $EVENTS == 1 ]]; then
    # Two private NATS JetStream servers: `bench` (up) receives the events of the overhead
    # cells; `drain` starts only after the backlog is written (see bench/src/events.rs).
    command -v nats-server >/dev/null || { echo "--events needs nats-server (apt-get install nats-server)" >&2; exit 1; }
    NATS_A=$(free_port "$CUBBY_PORT")
    "${PIN_BROKER[@]}" nats-server -js -a 127.0.0.1 -p "$NATS_A" -sd "$WORK/nats-a" >"$WORK/nats-a.log" 2>&1 &
    PIDS+=("$!")
    BROKER_PID=$!
    NATS_B=$(free_port "$CUBBY_PORT" "$NATS_A")
    EVENT_ENV=(CUBBY_NOTIFY_NATS_BENCH="nats://127.0.0.1:$NATS_A/cubby.bench"
        CUBBY_NOTIFY_NATS_DRAIN="nats://127.0.0.1:$NATS_B/cubby.drain"
        CUBBY_NOTIFY_RETRY_MAX_MS=200 CUBBY_NOTIFY_MAX_ATTEMPTS=1000)
fi

META_ARGS=()
[[ -n ${BENCH_METADATA_URL:-} ]] && META_ARGS=(--metadata-url "$BENCH_METADATA_URL")
"${PIN_REST[@]}" env "${EVENT_ENV[@]}" CUBBY_ROOT_ACCESS_KEY_ID=$AK CUBBY_ROOT_SECRET_ACCESS_KEY=$SK \
    "$CUBBY_BIN" serve --listen "127.0.0.1:$CUBBY_PORT" \
    --data-dir "$WORK/cubby-data" "${META_ARGS[@]}" >"$WORK/cubby.log" 2>&1 &
CUBBY_PID=$!
PIDS+=("$CUBBY_PID")

if [[ $USERPOOL == 1 ]]; then
    wait_ready "$CUBBY_PID" "$CUBBY_PORT" cubby
    echo "== cubby   pid $CUBBY_PID on 127.0.0.1:$CUBBY_PORT, data $WORK/cubby-data"
    echo "== machine: $(nproc) cores, $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "== run: cubby-bench --duration $DURATION $*"
    SECONDS=0
    if [[ $EVENTS == 1 ]]; then
        "${PIN_REST[@]}" timeout "$TIMEOUT" "$TARGET_DIR/$PROFILE/cubby-bench" \
            --endpoint "http://127.0.0.1:$CUBBY_PORT" --pid "$CUBBY_PID" --name cubby \
            --access-key "$AK" --secret "$SK" --duration "$DURATION" \
            --drain-ready "$WORK/drain-ready" --broker-pid "$BROKER_PID" "$@" |
            tee "$WORK/bench.out" &
        BENCH=$!
        until grep -q "waiting for bench/run.sh" "$WORK/bench.out" 2>/dev/null; do
            kill -0 "$BENCH" 2>/dev/null || break
            sleep 0.2
        done
        "${PIN_BROKER[@]}" nats-server -js -a 127.0.0.1 -p "$NATS_B" -sd "$WORK/nats-b" >"$WORK/nats-b.log" 2>&1 &
        PIDS+=("$!")
        wait_ready "$!" "$NATS_B" nats-b && touch "$WORK/drain-ready"
        wait "$BENCH"
    else
        timeout "$TIMEOUT" "$TARGET_DIR/$PROFILE/cubby-bench" \
            --endpoint "http://127.0.0.1:$CUBBY_PORT" --pid "$CUBBY_PID" --name cubby \
            --access-key "$AK" --secret "$SK" --duration "$DURATION" "$@"
    fi
    echo "== load run took ${SECONDS} s; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
    exit 0
fi

S3S_PORT=$(free_port "$CUBBY_PORT")
"$S3S_FS" --host 127.0.0.1 --port "$S3S_PORT" --access-key "$AK" --secret-key "$SK" \
    "$WORK/s3s-data" >"$WORK/s3s-fs.log" 2>&1 &
S3S_PID=$!
PIDS+=("$S3S_PID")

wait_ready "$CUBBY_PID" "$CUBBY_PORT" cubby
wait_ready "$S3S_PID" "$S3S_PORT" s3s-fs
# The idle reading is of a server that has applied its start-up configuration.
for _ in $(seq 1 300); do
    curl -fs "http://127.0.0.1:$CUBBY_PORT/_cubby/ready" >/dev/null && break
    sleep 0.1
done
sleep 1 # let both settle before the idle RSS reading

echo "== cubby   pid $CUBBY_PID on 127.0.0.1:$CUBBY_PORT, data $WORK/cubby-data"
echo "== s3s-fs  pid $S3S_PID on 127.0.0.1:$S3S_PORT, data $WORK/s3s-data"
echo "== machine: $(nproc) cores, $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== run: cubby-bench --duration $DURATION $*"
SECONDS=0
timeout "$TIMEOUT" "$TARGET_DIR/$PROFILE/cubby-bench" \
    --endpoint "http://127.0.0.1:$CUBBY_PORT" --pid "$CUBBY_PID" --name cubby \
    --compare-endpoint "http://127.0.0.1:$S3S_PORT" --compare-pid "$S3S_PID" --compare-name s3s-fs \
    --access-key "$AK" --secret "$SK" --duration "$DURATION" "$@"
echo "== load run took ${SECONDS} s; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
