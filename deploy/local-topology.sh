#!/usr/bin/env bash
# The deployment of the README's "Running on several machines", on one
# machine: Redis (the state store), an S3-compatible server (the file store,
# s3s-fs), three mrpt instances of two workers, each with a private data
# directory and no folder shared with the others, haproxy balancing them round robin without stickiness, and
# varnish in front as a CDN. The load tester runs through varnish while one
# instance is killed outright and started again and Redis pauses; then the
# run must show no bleed, no error and every upload intact, every instance
# must have served it, and varnish must show no cache hit under /api/ and
# hits on the page's static files. Exits non-zero on any failure and stops
# everything it started.
#
#   MRPT_BIN=target/release/mrpt USERS=300 ROUNDS=5 deploy/local-topology.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

MRPT_BIN=${MRPT_BIN:-${CARGO_TARGET_DIR:-/var/tmp/mrpt-target}/debug/mrpt}
USERS=${USERS:-300}
ROUNDS=${ROUNDS:-5}
# Loopback ports clear of the standard ones (Redis 6379, varnish 6081, …)
# and below the range the kernel picks outgoing ports from.
PORT_BASE=${PORT_BASE:-27300}
REDIS_PORT=$PORT_BASE
FILES_PORT=$((PORT_BASE + 1))
CDN_PORT=$((PORT_BASE + 2))
export BALANCER_PORT=$((PORT_BASE + 3))
export INSTANCE_A_PORT=$((PORT_BASE + 4)) INSTANCE_B_PORT=$((PORT_BASE + 5)) INSTANCE_C_PORT=$((PORT_BASE + 6))
declare -A INSTANCE_PORT=([a]=$INSTANCE_A_PORT [b]=$INSTANCE_B_PORT [c]=$INSTANCE_C_PORT)
INSTANCES=(a b c)
# The instance killed during the run.
VICTIM=b

need redis-server redis-server redis-cli
need haproxy haproxy
need varnish varnishd varnishncsa varnishstat
need jq jq
need curl curl
need_s3s_fs
[ -x "$MRPT_BIN" ] || { echo "no mrpt binary at $MRPT_BIN (set MRPT_BIN)" >&2; exit 1; }

WORK=$(mktemp -d /var/tmp/mrpt-topology.XXXXXX)
# varnish's worker process runs as its own user and reads its files here.
chmod 755 "$WORK"
declare -A INSTANCE_PID
STARTED=()

fail() {
  echo "FAILED: $*" >&2
  exit 1
}

# forget PID: a process of STARTED that has ended.
forget() {
  local kept=() pid
  for pid in "${STARTED[@]}"; do
    [ "$pid" = "$1" ] || kept+=("$pid")
  done
  STARTED=("${kept[@]}")
}

# stop PID: ends a process of STARTED and waits for it.
stop() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget "$1"
}

cleanup() {
  local status=$? pid
  for pid in "${STARTED[@]}" "${INSTANCE_PID[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED[@]}" "${INSTANCE_PID[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ "$status" -eq 0 ]; then
    rm -rf "$WORK"
  else
    echo "logs of the failed run are in $WORK" >&2
  fi
}
trap cleanup EXIT

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

answers() {
  curl -fsS -o /dev/null --max-time 5 "$1"
}

for port in "$REDIS_PORT" "$FILES_PORT" "$CDN_PORT" "$BALANCER_PORT" "${INSTANCE_PORT[@]}"; do
  port_free "$port" || fail "port $port is in use (set PORT_BASE to move every port)"
done

start_redis() {
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --dir "$WORK" \
    >"$WORK/redis.log" 2>&1 &
  STARTED+=($!)
  wait_until 15 "Redis answers" redis-cli -p "$REDIS_PORT" ping
}

# The bucket every instance keeps its files in; credentials and endpoint
# come from the standard AWS_* variables, as on a real deployment.
BUCKET=mrpt-topology
export AWS_ACCESS_KEY_ID=topology AWS_SECRET_ACCESS_KEY=topology-secret-key AWS_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$FILES_PORT" AWS_ALLOW_HTTP=true

start_bucket() {
  mkdir -p "$WORK/bucket/$BUCKET"
  "$MRPT_S3S_FS" --host 127.0.0.1 --port "$FILES_PORT" --access-key "$AWS_ACCESS_KEY_ID" \
    --secret-key "$AWS_SECRET_ACCESS_KEY" "$WORK/bucket" >"$WORK/s3s-fs.log" 2>&1 &
  STARTED+=($!)
  wait_until 15 "the S3 server answers" port_open "$FILES_PORT"
}

port_open() {
  ! port_free "$1"
}

# The flags naming an instance's stores: its own private data directory,
# and files in the shared bucket.
file_store_flags() {
  echo --data-dir "$WORK/$1" --files "s3://$BUCKET/files"
}

start_instance() {
  local name=$1
  mkdir -p "$WORK/$name"
  # The load tester registers and logs in every one of its users from this
  # one machine, so the per-address limits are raised for it; a real
  # deployment keeps the defaults.
  # shellcheck disable=SC2046 # the flags are words without spaces
  "$MRPT_BIN" serve --bind "127.0.0.1:${INSTANCE_PORT[$name]}" --instance "$name" --workers 2 \
    --store "redis://127.0.0.1:$REDIS_PORT" --store-prefix topology $(file_store_flags "$name") \
    --registrations-per-address 100000 --logins-per-address 100000 \
    >>"$WORK/$name.out" 2>>"$WORK/$name.log" &
  INSTANCE_PID[$name]=$!
  wait_until 60 "instance $name is ready" answers "http://127.0.0.1:${INSTANCE_PORT[$name]}/readyz"
}

# SIGKILL to the supervisor and its workers at once: a machine lost.
kill_instance() {
  local name=$1 supervisor=${INSTANCE_PID[$1]} workers
  workers=$(pgrep -P "$supervisor" | tr '\n' ' ')
  # shellcheck disable=SC2086 # one word per worker
  kill -KILL "$supervisor" $workers
  wait "$supervisor" 2>/dev/null || true
  unset "INSTANCE_PID[$name]"
  wait_until 15 "instance $name's port closes" port_free "${INSTANCE_PORT[$name]}"
}

start_balancer() {
  haproxy -c -q -f deploy/haproxy.cfg
  haproxy -db -f deploy/haproxy.cfg >"$WORK/haproxy.log" 2>&1 &
  STARTED+=($!)
  wait_until 30 "haproxy reaches an instance" answers "http://127.0.0.1:$BALANCER_PORT/readyz"
}

start_cdn() {
  sed "s/@BALANCER_PORT@/$BALANCER_PORT/" deploy/varnish.vcl >"$WORK/varnish.vcl"
  varnishd -F -a "127.0.0.1:$CDN_PORT" -f "$WORK/varnish.vcl" -n "$WORK/varnish" -s malloc,64m \
    >"$WORK/varnish.log" 2>&1 &
  STARTED+=($!)
  wait_until 60 "varnish reaches the balancer" answers "http://127.0.0.1:$CDN_PORT/healthz"
  # One line per request: how varnish handled it (hit, miss, pass, …) and
  # the path. It follows the log from when it starts: wait until it does.
  varnishncsa -n "$WORK/varnish" -F '%{Varnish:handling}x %U' -w "$WORK/cdn-requests.log" &
  CDN_LOG_PID=$!
  STARTED+=($CDN_LOG_PID)
  wait_until 15 "varnishncsa follows varnish's log" cdn_log_follows
}

cdn_log_follows() {
  answers "http://127.0.0.1:$CDN_PORT/healthz" && [ -s "$WORK/cdn-requests.log" ]
}

# The X-Cache header varnish gives a GET of PATH sent with a session cookie.
cache_status() {
  curl -fsS -o /dev/null -D - -H 'Cookie: mrpt_session=any-visitor' "http://127.0.0.1:$CDN_PORT$1" |
    tr -d '\r' | awk -F': ' 'tolower($1) == "x-cache" { print $2 }'
}

# The user rounds the load tester has reported done, from its log lines
# after line FROM (0 when it has reported none).
progress_after() {
  tail -n "+$(($1 + 1))" "$WORK/loadtest.log" |
    jq -R 'fromjson? | select(.message == "loadtest progress") | .done' | tail -n 1 | grep . || echo 0
}

# Waits until the load tester reports at least MIN user rounds done after
# log line FROM; prints the rounds reported.
wait_progress() {
  local min=$1 from=${2:-0} done
  while :; do
    done=$(progress_after "$from")
    [ "$done" -ge "$min" ] && { echo "$done"; return; }
    kill -0 "$LOADTEST_PID" 2>/dev/null || fail "the load tester ended before $min user rounds"
    sleep 0.2
  done
}

echo "== starting Redis, the S3 server, instances ${INSTANCES[*]}, haproxy and varnish in $WORK"
start_redis
start_bucket
for name in "${INSTANCES[@]}"; do
  start_instance "$name"
done
start_balancer
start_cdn

# The page's static files are cached even for a visitor with a cookie.
for path in / /app.js /app.css; do
  cache_status "$path" >/dev/null
  [ "$(cache_status "$path")" = HIT ] || fail "varnish did not serve $path from its cache"
done

echo "== mrpt loadtest: $USERS users x $ROUNDS rounds through varnish, haproxy and 3 instances"
"$MRPT_BIN" loadtest --url "http://127.0.0.1:$CDN_PORT" --users "$USERS" --rounds "$ROUNDS" \
  --json "$WORK/loadtest.json" >"$WORK/loadtest.txt" 2>"$WORK/loadtest.log" &
LOADTEST_PID=$!
STARTED+=($LOADTEST_PID)
total=$((USERS * ROUNDS))

killed_at=$(wait_progress $((total / 5)))
echo "at $killed_at/$total user rounds: SIGKILL to instance $VICTIM (supervisor and workers), then start it again"
kill_instance "$VICTIM"
start_instance "$VICTIM"

paused_at=$(wait_progress $((total / 2)))
[ "$paused_at" -lt "$total" ] || fail "the run ended before Redis could be paused during it"
echo "at $paused_at/$total user rounds: Redis paused for 2 s"
redis-cli -p "$REDIS_PORT" CLIENT PAUSE 2000 ALL >/dev/null
# Held like every other command, this PING answers when the pause ends.
redis-cli -p "$REDIS_PORT" ping >/dev/null
after_pause=$(wait_progress $((paused_at + 1)) "$(wc -l <"$WORK/loadtest.log")")
echo "after the pause the run went on: $after_pause/$total user rounds"

loadtest_status=0
wait "$LOADTEST_PID" || loadtest_status=$?
forget "$LOADTEST_PID"
cat "$WORK/loadtest.txt"
[ "$loadtest_status" -eq 0 ] || { cat "$WORK/loadtest.log" >&2; fail "the load tester found bleeds or errors"; }

report="$WORK/loadtest.json"
[ "$(jq '.bleeds' "$report")" -eq 0 ] || fail "bleeds"
[ "$(jq '.errors' "$report")" -eq 0 ] || fail "errors"
[ "$(jq '.uploads_verified' "$report")" -eq "$USERS" ] || fail "not every acknowledged upload was intact at the end"
for name in "${INSTANCES[@]}"; do
  jq -e --arg name "$name/" 'any(.served_by[]; startswith($name))' "$report" >/dev/null ||
    fail "instance $name served none of the run"
done

# Every file is in the bucket: the instances' own folders hold none.
for name in "${INSTANCES[@]}"; do
  stray=$(find "$WORK/$name" -type f | head -n 3)
  [ -z "$stray" ] || fail "instance $name kept files of its own: $stray"
done
objects=$(find "$WORK/bucket/$BUCKET/files" -type f | wc -l)
[ "$objects" -ge "$USERS" ] || fail "the bucket holds $objects files for $USERS users' uploads"

# Stopped, varnishncsa writes out what it still holds.
stop "$CDN_LOG_PID"
api_requests=$(awk 'index($2, "/api/") == 1' "$WORK/cdn-requests.log" | wc -l)
api_hits=$(awk '$1 == "hit" && index($2, "/api/") == 1' "$WORK/cdn-requests.log" | wc -l)
static_hits=$(awk '$1 == "hit" && index($2, "/api/") != 1' "$WORK/cdn-requests.log" | wc -l)
[ "$api_requests" -gt 0 ] || fail "varnish logged no request under /api/"
[ "$api_hits" -eq 0 ] || fail "varnish served $api_hits answers under /api/ from its cache"
[ "$static_hits" -gt 0 ] || fail "varnish served no static file from its cache"

echo "== summary"
echo "users $USERS x rounds $ROUNDS through varnish -> haproxy -> instances ${INSTANCES[*]} (2 workers each, private data directories), Redis, files in an S3 bucket ($objects objects)"
echo "instance $VICTIM killed and restarted at $killed_at/$total user rounds; Redis paused 2 s at $paused_at/$total"
jq -r '"bleeds \(.bleeds), errors \(.errors), uploads intact at the end \(.uploads_verified), 503 store_unavailable asked again \(.unavailable), retries after a lost answer \(.retries)"' "$report"
jq -r '"served by \(.served_by | length): \(.served_by | join(", "))"' "$report"
echo "varnish: $api_requests requests under /api/, $api_hits of them from the cache; $static_hits static files from the cache"
varnishstat -n "$WORK/varnish" -1 -f MAIN.cache_hit -f MAIN.cache_hitmiss -f MAIN.cache_miss -f MAIN.s_pass
echo "topology run passed"
