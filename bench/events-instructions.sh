#!/usr/bin/env bash
# Instructions per 4 KiB PUT, plain against notified, counted by valgrind's callgrind: what an
# upload event costs cubby's own user-space code (the outbox row, the dispatcher's claim,
# expansion and NATS publish, the ack's delete), without the wall-clock noise of
# `bench/run.sh --events`. System time (the extra WAL page written per commit, the socket
# writes) and the broker's own work are not counted: --events measures those.
# The difference is also split by thread: the async runtime's workers (building the upload's
# event, the dispatcher, the NATS client) against the rest (nearly all the metadata writer:
# the outbox row's insert and delete).
#
#   bench/events-instructions.sh            # 500 PUTs per bucket, one client
#   PUTS=1600 CLIENTS=16 bench/events-instructions.sh   # concurrent clients (batched commits)
#   (PUTS is rounded down to a multiple of 2 × CLIENTS.)
#   LINGER_MS=25 bench/events-instructions.sh           # the server's default linger
#
# Under valgrind cubby runs many times slower, but the dispatcher's linger after a short batch
# (CUBBY_NOTIFY_LINGER_MS, default 25 ms) is wall-clock time: at 25 ms it would gather one
# event per batch where a full-speed server gathers dozens, and the per-batch work (claim,
# publish round trip) would count once per event. So the server runs with LINGER_MS
# (default 1000) to keep batches like a real load's.
#
# Needs valgrind, curl (its --aws-sigv4), nats-server and python3. Release build of cubby.
set -euo pipefail
cd "$(dirname "$0")/.."
PUTS=${PUTS:-500}
CLIENTS=${CLIENTS:-1}
LINGER_MS=${LINGER_MS:-1000}
PORT=${BENCH_PORT:-9730}
NATS_PORT=$((PORT + 1))
for tool in valgrind callgrind_control callgrind_annotate curl nats-server python3; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
cargo build --release -p cubby
BIN=${BENCH_CUBBY_BIN:-target/release/cubby}
WORK=$(mktemp -d /tmp/cubby-callgrind.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

AK=cubbybenchaccesskey
SK=cubbybenchsecretkey0123456789abcdefghij
nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$WORK/nats" >"$WORK/nats.log" 2>&1 &
PIDS+=("$!")
env CUBBY_NOTIFY_NATS_BENCH="nats://127.0.0.1:$NATS_PORT/cubby.bench" \
    CUBBY_NOTIFY_LINGER_MS="$LINGER_MS" \
    CUBBY_ROOT_ACCESS_KEY_ID=$AK CUBBY_ROOT_SECRET_ACCESS_KEY=$SK \
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$WORK/cg.out" \
    "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/cubby.log" 2>&1 &
CUBBY_PID=$!
PIDS+=("$CUBBY_PID")
ready=0
for _ in $(seq 1 300); do
    curl -s -f -o /dev/null "http://127.0.0.1:$PORT/_cubby/ready" && { ready=1; break; }
    sleep 0.5
done
[[ $ready == 1 ]] || { echo "cubby under valgrind was not ready in 150 s; its log:" >&2; cat "$WORK/cubby.log" >&2; exit 1; }

# curl signs `?notification=`, not `?notification`, so the query carries the `=`.
s3() { curl -s -f --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"; }
URL=http://127.0.0.1:$PORT
s3 -X PUT "$URL/cg-plain" >/dev/null
s3 -X PUT "$URL/cg-notified" >/dev/null
s3 -X PUT -H "Content-Type: application/xml" --data-binary \
    '<NotificationConfiguration><QueueConfiguration><Id>bench</Id><Queue>arn:cubby:sqs:us-east-1:000000000000:bench</Queue><Event>s3:ObjectCreated:*</Event></QueueConfiguration></NotificationConfiguration>' \
    "$URL/cg-notified?notification=" >/dev/null
[[ $(s3 "$URL/cg-notified?notification=") == *"<Id>bench</Id>"* ]] ||
    { echo "the notification configuration did not take" >&2; exit 1; }
head -c 4096 /dev/urandom >"$WORK/body"

# puts BUCKET PREFIX COUNT: COUNT PUTs from CLIENTS parallel loops; prints the failures.
puts() {
    local per=$(($3 / CLIENTS)) c
    for c in $(seq 1 "$CLIENTS"); do
        (f=0; for i in $(seq 1 "$per"); do
            s3 -T "$WORK/body" "$URL/$1/$2-$c-$i" >/dev/null || f=$((f + 1))
        done; echo "$f") &
    done | awk '{s += $1} END {print s + 0}'
}
# Warm both paths (connection to NATS, statement caches) before counting.
[[ $(puts cg-plain warm 40) == 0 && $(puts cg-notified warm 40) == 0 ]] ||
    { echo "warm-up PUTs failed" >&2; exit 1; }
sleep 3
# Each bucket gets two half cells, in the order plain, notified, notified, plain: every PUT
# makes the objects table larger and later inserts a little dearer, and this order gives
# both buckets the same average position (plain first, then notified, counted the growth
# as a cost of events).
HALF=$(( PUTS / CLIENTS / 2 * CLIENTS ))
N=$(( 2 * HALF ))
cell=0
for b in cg-plain cg-notified cg-notified cg-plain; do
    cell=$((cell + 1))
    callgrind_control -z "$CUBBY_PID" >/dev/null
    failed=$(puts "$b" "k$cell" "$HALF")
    [[ $failed == 0 ]] || { echo "$failed PUTs into $b failed" >&2; exit 1; }
    sleep 4 # the dispatcher delivers and deletes this cell's events inside the count
    callgrind_control -d "$b" "$CUBBY_PID" >/dev/null
done
pending=$(s3 "$URL/_cubby/admin/events" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pending"])')
# An event still pending at the dump was not counted: the figure would be too low.
[[ $pending == 0 ]] || { echo "$pending events were still pending after the notified cell" >&2; exit 1; }

python3 - "$WORK" "$N" "$CLIENTS" "$LINGER_MS" <<'PY'
import glob, re, subprocess, sys
work, n, clients, linger = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
# --separate-threads=yes: a file per dump and thread, cg.out.<dump>-<thread>.
by_dump = {}
for path in glob.glob(f"{work}/cg.out.*-*"):
    m = re.search(r"cg\.out\.(\d+)-(\d+)$", path)
    if m:
        by_dump.setdefault(int(m.group(1)), []).append(path)
def load(path):
    out = subprocess.run(["callgrind_annotate", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    total, funcs = 0, {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*?)( \[.*\])?$", line)
        if not m:
            continue
        count, name = int(m.group(1).replace(",", "")), m.group(2)
        if name == "PROGRAM TOTALS":
            total = count
        else:
            funcs[name] = funcs.get(name, 0) + count
    return total, funcs
def merged(a, b):
    return a[0] + b[0], {k: a[1].get(k, 0) + b[1].get(k, 0) for k in set(a[1]) | set(b[1])}
def is_worker(path):
    # The async runtime's threads; the rest is the metadata writer (nearly all of it),
    # sqlx's database threads and the main thread.
    with open(path, errors="replace") as f:
        return "multi_thread::worker::run" in f.read()
def load_cell(paths):
    total, funcs, workers = 0, {}, 0
    for path in paths:
        t, fs = load(path)
        total, funcs = merged((total, funcs), (t, fs))
        workers += t if is_worker(path) else 0
    return (total, funcs), workers
cells = [load_cell(by_dump[d]) for d in sorted(by_dump)[-4:]]
(plain, pf), (notified, nf) = merged(cells[0][0], cells[3][0]), merged(cells[1][0], cells[2][0])
plain_workers, notified_workers = cells[0][1] + cells[3][1], cells[1][1] + cells[2][1]
print(f"{n} PUTs of 4 KiB per bucket from {clients} client(s), dispatcher linger {linger} ms; "
      "user-space instructions per PUT")
print(f"  plain    {plain / n:10.0f}")
print(f"  notified {notified / n:10.0f}  ({(notified - plain) / n:+.0f} per event, "
      f"{(notified - plain) / plain * 100:+.1f}%)")
dw = notified_workers - plain_workers
print(f"  per event: {dw / n:+.0f} on the runtime's worker threads (the upload's event, "
      f"dispatch, NATS client), {(notified - plain - dw) / n:+.0f} on the others (metadata writer)")
# Functions whose own count grew most (callgrind_annotate lists self cost; the few
# whole-thread entries it lists inclusively are left out by the size cut).
rows = sorted(((nf.get(k, 0) - pf.get(k, 0), k) for k in set(pf) | set(nf)
               if max(pf.get(k, 0), nf.get(k, 0)) < 0.1 * plain), reverse=True)
print("  largest increases per event:")
for d, k in rows[:15]:
    print(f"    {d / n:8.0f}  {k[-100:]}")
PY
