#!/bin/sh
# Installs the Debian 12 packages streamfit needs to build and test (as root),
# unless they are all present already.
set -eu
PKGS="build-essential meson ninja-build pkg-config libgsl-dev libhdf5-dev libcsv-dev
libcmocka-dev zlib1g-dev libdeflate-dev libisal-dev libopenblas-dev clang libclang-rt-14-dev time"
missing=""
for p in $PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "streamfit: missing packages:$missing (run as root, or: sudo apt-get install$missing)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
