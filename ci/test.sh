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
export NLSTORM_REQUIRE_SANDBOX=1
cargo run --release -- run scenarios/ --no-record
cargo test --release
