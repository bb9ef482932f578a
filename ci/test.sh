#!/usr/bin/env bash
# CI entry: installs what the tests need, runs the bundled scenarios (the README's main
# job), then the README's test command last, so its summary closes the log.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v setpriv >/dev/null; then
  apt-get update -qq && apt-get install -y -qq util-linux
fi
# The reproducer tests build the generated C programs.
if ! command -v cc >/dev/null; then
  apt-get update -qq && apt-get install -y -qq gcc libc6-dev
fi
# The listener templates (fixtures/listeners) are run by the suite in Python and Go too.
if ! command -v go >/dev/null || ! [ -x /usr/bin/python3 ]; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends golang-go python3
fi
# Style and lints gate the change like the tests do.
if cargo fmt --version >/dev/null 2>&1 && cargo clippy --version >/dev/null 2>&1; then
  cargo fmt --all --check
  cargo clippy --release --all-targets -- -D warnings
  # The module docs carry the pipeline's picture; a broken link there is a defect too.
  RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p nlstorm
else
  echo "ci: rustfmt or clippy is not installed in this toolchain: style and lint checks skipped"
fi
# The programs the [[program]] scenarios run: udevadm extracted from Debian's udev
# package (never installed, never started as a daemon) and incident 1's listener.
bash ci/programs.sh
# One guest kernel under qemu (nlstorm vm), its profile diffed against its baseline.
bash ci/vm.sh
export NLSTORM_REQUIRE_SANDBOX=1
cargo run --release -- run scenarios/ --no-record
# The binary users build holds no test fault hook (feature fault-injection, tests only).
if grep -q SENDER_BLOCKS target/release/nlstorm; then
  echo "ci: target/release/nlstorm contains the test-only fault hook" >&2
  exit 1
fi
cargo test --release
