#!/usr/bin/env bash
# cmake/SegtuneTorch.cmake against stand-in LibTorch installs
# (fake_libtorch/): a pre-C++11-ABI one and one older than 1.13 stop the
# configure step with a message saying why; a CUDA one is reported as such.
# Usage: torch_check_test.sh CMAKE SOURCE_DIR
set -euo pipefail
cmake_command=$1 source_dir=$2
here=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# Prints the configure output; returns cmake's exit status. The project
# enables no language, so CMake does not know the multiarch library
# directory and cannot fall back to Debian's LibTorch: only the stand-in is
# found.
configure() {
  "$cmake_command" -S "$here/torch_check" -B "$work/$1" -DSEGTUNE_CMAKE_DIR="$source_dir/cmake" \
    -DCMAKE_PREFIX_PATH="$here/fake_libtorch/$1" 2>&1
}

if output=$(configure pre_cxx11); then
  fail "a pre-C++11-ABI LibTorch was accepted"
fi
[[ $output == *"pre-C++11 libstdc++ ABI"* && $output == *"libtorch-cxx11-abi-shared-with-deps"* ]] ||
  fail "the pre-C++11-ABI message does not name the problem and the fix: $output"

if output=$(configure old); then
  fail "LibTorch 1.12 was accepted"
fi
[[ $output == *'requested version "1.13"'* ]] || fail "LibTorch 1.12 was refused for another reason: $output"

if output=$(configure cuda); then
  [[ $output == *"segtune: LibTorch 2.3.1 (CUDA) from $here/fake_libtorch/cuda/share/cmake/Torch"* ]] ||
    fail "the CUDA LibTorch was not reported: $output"
else
  fail "a C++11-ABI CUDA LibTorch was refused: $output"
fi

if ((failures > 0)); then
  echo "$failures check(s) failed"
  exit 1
fi
echo "LibTorch checks: all passed"
