#!/usr/bin/env bash
# Builds the three binaries (reusing build/, or $BUILD_DIR) and packages them
# as a Debian package with CPack (cmake/SegtunePackaging.cmake); prints the
# .deb's path. Install it with `sudo apt install ./segtune_*.deb`.
# A LibTorch other than Debian's comes from the build directory's
# configuration: configure it first with -DCMAKE_PREFIX_PATH (README.md,
# "Building against another LibTorch (CUDA)").
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
OUT_DIR=${OUT_DIR:-$BUILD_DIR/package}

if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD_DIR" --target segtune segtune-coordinator segtune-worker -j"$(nproc)" >&2
rm -f "$OUT_DIR"/segtune_*.deb
cpack --config "$BUILD_DIR/CPackConfig.cmake" -G DEB -B "$OUT_DIR" >&2
deb=$(ls "$OUT_DIR"/segtune_*.deb)
realpath "$deb"
