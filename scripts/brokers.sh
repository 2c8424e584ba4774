#!/usr/bin/env bash
# Make sure the brokers the event tests deliver to are running on their usual local ports:
# Redis :6379, NATS with JetStream :4222, RabbitMQ :5672 (guest/guest), Mosquitto :1883.
# A broker that is already listening is left alone; a missing one is installed (Debian
# packages) and started in the background. Failures are reported, not fatal: the tests that
# need an unreachable broker skip loudly.
set -uo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_up() { # PORT NAME SECONDS
  for _ in $(seq 1 $(($3 * 10))); do
    up "$1" && { echo "  $2 is up on :$1"; return 0; }
    sleep 0.1
  done
  echo "  !!! $2 did not come up on :$1 (its tests will skip)" >&2
  return 1
}

need() { # COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  if command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 || true
  fi
  command -v "$1" >/dev/null 2>&1
}

state=${CUBBY_BROKER_DIR:-/tmp/cubby-brokers}
mkdir -p "$state"

if up 6379; then echo "  Redis already up"; elif need redis-server redis-server; then
  redis-server --port 6379 --bind 127.0.0.1 --save "" --daemonize yes --dir "$state" >/dev/null
  wait_up 6379 Redis 10
else echo "  !!! cannot install Redis" >&2; fi

if up 4222; then echo "  NATS already up"; elif need nats-server nats-server; then
  nohup nats-server -js -a 127.0.0.1 -p 4222 -sd "$state/nats" >"$state/nats.log" 2>&1 &
  wait_up 4222 NATS 10
else echo "  !!! cannot install NATS" >&2; fi

if up 1883; then echo "  Mosquitto already up"; elif need mosquitto mosquitto; then
  mosquitto -d -p 1883 >/dev/null 2>&1 || { nohup mosquitto -p 1883 >"$state/mosquitto.log" 2>&1 & }
  wait_up 1883 Mosquitto 10
else echo "  !!! cannot install Mosquitto" >&2; fi

if up 5672; then echo "  RabbitMQ already up"; elif need rabbitmq-server rabbitmq-server; then
  rabbitmq-server -detached >/dev/null 2>&1 || { nohup rabbitmq-server >"$state/rabbitmq.log" 2>&1 & }
  wait_up 5672 RabbitMQ 90
else echo "  !!! cannot install RabbitMQ" >&2; fi
exit 0
