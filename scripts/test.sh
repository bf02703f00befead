#!/usr/bin/env bash
# Installs, builds and runs the whole test suite (unit + integration) with ctest.
# Exits non-zero when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}

bash scripts/build.sh
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 900 -j"$(nproc)"
