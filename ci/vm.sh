#!/usr/bin/env bash
# Sets up and runs one guest kernel's qualification, so that `nlstorm vm` is tested on
# every change: qemu from Debian's qemu-system-x86 package, the guest's static nlstorm
# (built for the explicit target, so crt-static reaches neither build scripts nor proc
# macros), and Debian's newest 6.1 cloud kernel package, downloaded with apt-get into
# nlstorm's cache and never installed. The guest's profile is then compared with the
# bundled baseline of that kernel (fixtures/baselines): a differing exact fact fails CI.
# Needs apt-get (Debian); run as root for apt-get install.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v qemu-system-x86_64 >/dev/null; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends qemu-system-x86
fi
for tool in xz zstd dpkg-deb; do
  if ! command -v "$tool" >/dev/null; then
    apt-get update -qq && apt-get install -y -qq xz-utils zstd dpkg
    break
  fi
done

RUSTFLAGS='-C target-feature=+crt-static' \
  cargo build --release --bin nlstorm --target x86_64-unknown-linux-gnu
nlstorm=target/x86_64-unknown-linux-gnu/release/nlstorm

# vm fetch asks apt which kernel packages exist: a machine that never ran apt-get
# update knows none.
if [ -z "$(apt-cache pkgnames linux-image-6.1 2>/dev/null | head -n1)" ]; then
  apt-get update -qq
fi

out=target/vm
mkdir -p "$out"
kernel=$("$nlstorm" vm fetch 6.1)
# The integration test boots the 6.12 line; fetching it here keeps apt out of the test.
"$nlstorm" vm fetch 6.12 >/dev/null
(cd "$out" && "../../$nlstorm" vm --kernel "$kernel" --timeout 600 -- qualify --json guest-6.1.json 2> >(grep -v '^guest |' >&2))
"$nlstorm" diff fixtures/baselines "$out/guest-6.1.json"
