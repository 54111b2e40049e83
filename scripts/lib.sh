# Shell helpers shared by scripts/test and deploy/local-topology.sh:
# installing what a fresh machine lacks, and waiting for services.
# Sourced, not run.

# need PACKAGE COMMAND...: installs the Debian PACKAGE when one of the
# COMMANDs is missing.
need() {
  local package=$1 command
  shift
  for command in "$@"; do
    if ! command -v "$command" >/dev/null; then
      echo "installing $package"
      apt-get update -qq && apt-get install -y -qq "$package" >/dev/null
      return
    fi
  done
}

# wait_until SECONDS WHAT COMMAND...: runs COMMAND (quietly) every tenth of
# a second until it succeeds; fails saying WHAT after SECONDS.
wait_until() {
  local seconds=$1 what=$2 tries
  shift 2
  for ((tries = seconds * 10; tries > 0; tries--)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "timed out after ${seconds}s waiting until $what" >&2
  return 1
}
