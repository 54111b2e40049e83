#!/usr/bin/env bash
# Runs the browser tests in headless Chromium against a freshly started mrpt server.
#
#   MRPT_BIN        server binary (default: ${CARGO_TARGET_DIR:-/var/tmp/mrpt-target}/debug/mrpt)
#   MRPT_ARTIFACTS  screenshots and the server log go to $MRPT_ARTIFACTS/browser/
#                   (default: /var/tmp/mrpt-artifacts)
#   arguments       test files to run (default: every *.test.js here)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export MRPT_BIN="${MRPT_BIN:-${CARGO_TARGET_DIR:-/var/tmp/mrpt-target}/debug/mrpt}"
export MRPT_ARTIFACTS="${MRPT_ARTIFACTS:-/var/tmp/mrpt-artifacts}"
out="$MRPT_ARTIFACTS/browser"

if [ ! -x "$MRPT_BIN" ]; then
  echo "run.sh: no server binary at $MRPT_BIN; build it with: cargo build -p mrpt" >&2
  exit 2
fi

if [ ! -x /usr/bin/chromium ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi

cd "$here"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

mkdir -p "$out"
rm -f "$out"/*.png "$out"/server-*.log
port="$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
data_dir="$(mktemp -d "${TMPDIR:-/tmp}/mrpt-browser-data.XXXXXX")"

"$MRPT_BIN" serve --bind "127.0.0.1:$port" --data-dir "$data_dir" >"$out/server.log" 2>&1 &
server_pid=$!
cleanup() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  rm -rf "$data_dir"
}
trap cleanup EXIT

ready=""
for _ in $(seq 1 150); do
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then ready=1; break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
  sleep 0.2
done
if [ -z "$ready" ]; then
  echo "run.sh: the server did not answer /healthz; its log:" >&2
  tail -n 50 "$out/server.log" >&2
  exit 1
fi

# A debug build serves web/ from the checkout it was built in; make sure the
# page under test is this checkout's page, not another tree's.
web_dir="$(cd "$here/../../web" && pwd)"
for f in "$web_dir"/*; do
  name="$(basename "$f")"
  [ "$name" = index.html ] && path=/ || path="/$name"
  if ! curl -fsS "http://127.0.0.1:$port$path" | cmp -s - "$f"; then
    echo "run.sh: the server at $MRPT_BIN does not serve this checkout's web/$name;" >&2
    echo "run.sh: build it from this checkout (cargo build -p mrpt) or point MRPT_BIN at such a build" >&2
    exit 1
  fi
done

if [ "$#" -eq 0 ]; then set -- *.test.js; fi
status=0
MRPT_URL="http://127.0.0.1:$port" node --test --test-concurrency=1 "$@" || status=$?
echo "run.sh: screenshots and server log in $out"
exit "$status"
