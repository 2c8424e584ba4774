#!/usr/bin/env python3
"""PostgreSQL statements (round trips) per 4 KiB PUT, and PUT ops/s seen by a boto3 client,
with N cubby nodes on one fresh database and a shared blob dir.

  python3 bench/pg_roundtrips.py BINARY [NODES] [PUTS] [THREADS]

Each statement sqlx sends (BEGIN and COMMIT included) is one client/server round trip, so the
statements PostgreSQL logs for the bench database's backends (log_statement=all, set on that
database only) divided by the PUTs is the round trips per PUT. boto3 is slow (it signs in
Python): the ops/s here are bounded by the client, not by cubby — use bench/scale.sh with a
release build for throughput.
"""
import concurrent.futures
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

import boto3
from botocore.config import Config

PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PG_LOG = os.environ.get("BENCH_PG_LOG", "/var/log/postgresql/postgresql-15-main.log")
AK, SK = "AKIABENCHBENCHBENCH0", "benchsecretbenchsecretbenchsecret0000000"


def psql(db, sql):
    return subprocess.run(["psql", f"{PG}/{db}", "-qAtc", sql], check=True,
                          capture_output=True, text=True).stdout.strip()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def main():
    binary = sys.argv[1]
    nodes = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    puts = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 16
    db = f"cubby_rt_{os.getpid()}"
    work = tempfile.mkdtemp(prefix="cubby-rt-")
    psql("postgres", f"create database {db}")
    psql("postgres", f"alter database {db} set log_statement = 'all'")
    open(f"{work}/master.key", "w").write(os.urandom(32).hex())
    open(f"{work}/empty.toml", "w").write("# nothing\n")
    env = dict(os.environ, CUBBY_MASTER_KEY_FILE=f"{work}/master.key",
               CUBBY_ROOT_ACCESS_KEY_ID=AK, CUBBY_ROOT_SECRET_ACCESS_KEY=SK, CUBBY_LOG="warn")
    procs, eps = [], []
    try:
        for i in range(nodes):
            port = free_port()
            procs.append(subprocess.Popen(
                [binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", f"{work}/n{i}",
                 "--config", f"{work}/empty.toml", "--metadata-url", f"{PG}/{db}",
                 "--blob-url", f"file://{work}/blobs"],
                env=env, stdout=subprocess.DEVNULL, stderr=open(f"{work}/n{i}.log", "w")))
            eps.append(f"http://127.0.0.1:{port}")
            for _ in range(300):
                try:
                    socket.create_connection(("127.0.0.1", port)).close()
                    break
                except OSError:
                    time.sleep(0.1)
        cfg = Config(s3={"addressing_style": "path"}, max_pool_connections=threads * 2,
                     retries={"max_attempts": 1})
        clients = [boto3.client("s3", endpoint_url=e, aws_access_key_id=AK,
                                aws_secret_access_key=SK, region_name="us-east-1", config=cfg)
                   for e in eps]
        clients[0].create_bucket(Bucket="bench")
        body = os.urandom(4096)
        for i in range(20):  # warm-up: prepared statements, pools
            clients[i % nodes].put_object(Bucket="bench", Key=f"warm{i}", Body=body)

        def count_since(line0):
            # log_line_prefix here is '%m [%p] %q%u@%d ': lines of the bench database's
            # backends name it.
            pat = re.compile(r"@" + db + r" LOG:  (statement|execute)")
            with open(PG_LOG, errors="replace") as f:
                lines = f.readlines()[line0:]
            return sum(1 for l in lines if pat.search(l))

        def log_len():
            with open(PG_LOG, errors="replace") as f:
                return sum(1 for _ in f)

        for label, conc in (("sequential", 1), (f"{threads} threads", threads)):
            line0 = log_len()
            cpu0 = [cpu_ticks(p.pid) for p in procs]
            t0 = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(conc) as ex:
                list(ex.map(lambda i: clients[i % nodes].put_object(
                    Bucket="bench", Key=f"{label}/{i}", Body=body), range(puts)))
            dt = time.monotonic() - t0
            time.sleep(0.5)  # the log is written asynchronously
            stmts = count_since(line0)
            # Each node served puts / nodes of them (round robin).
            cpu = [(cpu_ticks(p.pid) - c) * 10_000 / (puts / nodes) for p, c in zip(procs, cpu0)]
            print(f"{nodes} node(s), {label}: {puts} PUTs in {dt:.2f} s = {puts / dt:.0f}/s (client-bound); "
                  f"{stmts} PostgreSQL statements = {stmts / puts:.2f} round trips per PUT; "
                  f"server CPU per PUT it served, per node (10 ms ticks): {', '.join(f'{c:.0f} µs' for c in cpu)}")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        psql("postgres", f"drop database if exists {db} with (force)")
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
