#!/usr/bin/env bash
# Installs the Debian packages segtune needs, then configures and builds
# everything (binaries land in build/bin). Re-running rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}

bash scripts/install-deps.sh
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
echo "build: compiling into $BUILD_DIR (the first build takes several minutes)"
cmake --build "$BUILD_DIR" -j"$(nproc)"
