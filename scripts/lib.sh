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

# need_s3s_fs: builds the S3-compatible server s3s-fs once, where repeated
# runs find it, and exports its path as MRPT_S3S_FS.
need_s3s_fs() {
  local tools=/var/tmp/mrpt-tools
  if [ ! -x "$tools/bin/s3s-fs" ]; then
    echo "installing s3s-fs into $tools"
    # In a throw-away build folder, not the workspace's target directory.
    env -u CARGO_TARGET_DIR cargo install s3s-fs --version '~0.14' --features binary --locked --root "$tools"
  fi
  export MRPT_S3S_FS="$tools/bin/s3s-fs"
}
