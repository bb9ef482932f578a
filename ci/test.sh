#!/usr/bin/env bash
# CI entry: installs what the tests need, then runs the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v setpriv >/dev/null; then
  apt-get update -qq && apt-get install -y -qq util-linux
fi
export NLSTORM_REQUIRE_SANDBOX=1
cargo test --release
cargo run --release -- run scenarios/ --no-record
