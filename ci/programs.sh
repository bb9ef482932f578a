#!/usr/bin/env bash
# Installs the programs the bundled [[program]] scenarios put under the flood, under
# target/programs/ (nothing outside the repository's target directory):
#   - udevadm from Debian's udev package, extracted with dpkg-deb, never installed and
#     never started as a daemon: only `udevadm monitor` runs, inside nlstorm's sandbox;
#   - fixtures/programs/uevent-listener.c, incident 1's listener, built with cc;
#   - fixtures/programs/every.c, which reruns a one-shot tool (ss) as an agent polls.
# ip and ss come from iproute2, installed with apt-get when missing.
# Needs apt-get (Debian) and cc; run as root for apt-get install.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/programs
mkdir -p "$out"

if ! command -v ip >/dev/null || ! command -v ss >/dev/null; then
  apt-get update -qq && apt-get install -y -qq iproute2
fi
if ! command -v cc >/dev/null; then
  apt-get update -qq && apt-get install -y -qq gcc libc6-dev
fi

cc -O2 -Wall -pthread -o "$out/uevent-listener" fixtures/programs/uevent-listener.c
cc -O2 -Wall -o "$out/every" fixtures/programs/every.c

# extract PKG: Debian's package PKG unpacked under $out/PKG with dpkg-deb (never
# installed), its name and version in $out/PKG/PROVENANCE.
extract() {
  local pkg=$1 work deb
  work=$(mktemp -d)
  # apt-get download writes to the current directory; _apt cannot read a private
  # mktemp directory, which only costs a warning.
  (cd "$work" && apt-get download "$pkg" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true)
  deb=$(ls "$work/${pkg}"_*.deb 2>/dev/null | head -n1)
  if [ -z "$deb" ]; then
    rm -rf "$work"
    echo "programs: apt-get download $pkg failed" >&2
    exit 1
  fi
  rm -rf "${out:?}/$pkg"
  dpkg-deb -x "$deb" "$out/$pkg"
  dpkg-deb -f "$deb" Package Version > "$out/$pkg/PROVENANCE"
  rm -rf "$work"
}

if [ ! -x "$out/udev/bin/udevadm" ]; then
  extract udev
  # Later packages ship usr/bin only (merged /usr); the scenarios name bin/udevadm.
  if [ ! -e "$out/udev/bin/udevadm" ] && [ -x "$out/udev/usr/bin/udevadm" ]; then
    mkdir -p "$out/udev/bin" && ln -s ../usr/bin/udevadm "$out/udev/bin/udevadm"
  fi
fi
# busybox's `uevent` applet, from Debian's busybox package.
if [ ! -x "$out/busybox/bin/busybox" ]; then
  extract busybox
fi
# udevadm links libsystemd-shared from the systemd package; take the library from its
# own package when the machine does not have it.
if ! "$out/udev/bin/udevadm" --version >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq libsystemd-shared || true
  "$out/udev/bin/udevadm" --version >/dev/null
fi
echo "programs: $(cat "$out/udev/PROVENANCE" | tr '\n' ' ')udevadm $("$out/udev/bin/udevadm" --version), $(tr '\n' ' ' < "$out/busybox/PROVENANCE"), uevent-listener and every built, $(ip -V)"
