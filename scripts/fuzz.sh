#!/usr/bin/env bash
# Builds the spec parser's libFuzzer target with clang (AddressSanitizer and
# UndefinedBehaviorSanitizer on) in a build directory of its own, then fuzzes
# it for a bounded time over a copy of the seed corpus. Exits non-zero on a
# crash, leak, timeout or out-of-memory (the reproducer is left in
# <build-dir>/artifacts/), or when clang or libFuzzer is not installed.
#
#   scripts/fuzz.sh [--build-dir DIR] [--seconds N] [-- extra libFuzzer flags]
#
# The gcc build is untouched: this one has -DSEGTUNE_FUZZ=ON and builds only
# the fuzz target and the torch-free libraries it links (spec, search, optim
# catalog).
set -euo pipefail
cd "$(dirname "$0")/.."
source_dir=$PWD

build_dir=build/fuzz-clang
seconds=60
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "fuzz.sh: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done

if ! command -v clang++ >/dev/null; then
  echo "fuzz.sh: clang++ not found: run scripts/install-deps.sh" \
       "(it installs clang and libclang-rt-14-dev)" >&2
  exit 1
fi
fuzzer_runtime="$(clang++ -print-resource-dir)/lib/linux/libclang_rt.fuzzer-$(uname -m).a"
if [ ! -f "$fuzzer_runtime" ]; then
  echo "fuzz.sh: libFuzzer's runtime ($fuzzer_runtime) is missing: run scripts/install-deps.sh" \
       "(it installs libclang-rt-14-dev)" >&2
  exit 1
fi

sanitize="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
if [ ! -f "$build_dir/build.ninja" ]; then
  # A build type of its own: -O1 and line tables keep the build quick and the
  # stack traces readable; asserts stay on.
  cmake -S "$source_dir" -B "$build_dir" -G Ninja \
    -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Fuzz \
    -DCMAKE_CXX_FLAGS_FUZZ="-O1 -gline-tables-only -fno-omit-frame-pointer $sanitize" \
    -DSEGTUNE_BUILD_TESTS=OFF -DSEGTUNE_FUZZ=ON >"$build_dir.configure.log" 2>&1 ||
    { cat "$build_dir.configure.log" >&2; exit 1; }
fi
cmake --build "$build_dir" --target segtune_spec_fuzz -j"${FUZZ_BUILD_JOBS:-2}"

# libFuzzer adds what it learns to the first directory: a copy, so that the
# checked-in corpus changes only by hand.
run_corpus="$build_dir/corpus"
artifacts="$build_dir/artifacts"
rm -rf "$run_corpus"
mkdir -p "$run_corpus" "$artifacts"
cp tests/fuzz/corpus/spec/* "$run_corpus/"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
status=0
"$build_dir/bin/segtune_spec_fuzz" \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
  -dict=tests/fuzz/spec.dict -artifact_prefix="$artifacts/" -print_final_stats=1 \
  "${extra[@]}" "$run_corpus" tests/fuzz/regressions || status=$?
if [ "$status" -ne 0 ]; then
  echo "fuzz.sh: the fuzz target failed (exit $status); reproducers:" >&2
  ls -l "$artifacts" >&2
  echo "fuzz.sh: replay one with $build_dir/bin/segtune_spec_fuzz FILE; once fixed, add it to" \
       "tests/fuzz/regressions/" >&2
fi
exit "$status"
