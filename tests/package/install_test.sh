#!/usr/bin/env bash
# `cmake --install BUILD --prefix TMP`, then checks the installed tree: the
# three binaries run from it, the docs, examples, dashboard and systemd units
# are there, the units start the installed binaries, and no test or
# benchmark binary came along.
# Usage: install_test.sh CMAKE BUILD_DIR SOURCE_DIR
set -euo pipefail
cmake_command=$1 build_dir=$2 source_dir=$3

prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect_file() { [[ -f "$prefix/$1" ]] || fail "$1 not installed"; }

"$cmake_command" --install "$build_dir" --prefix "$prefix" >/dev/null

for binary in segtune segtune-coordinator segtune-worker; do
  if [[ ! -x "$prefix/bin/$binary" ]]; then
    fail "bin/$binary not installed"
    continue
  fi
  # From the prefix, not the build tree: shared libraries resolve without
  # the build tree's RPATH, and nothing looks for files beside build/bin.
  (cd / && "$prefix/bin/$binary" --help >/dev/null 2>&1) || fail "bin/$binary --help exited $?"
done
extra=$(ls "$prefix/bin" | grep -vxE 'segtune|segtune-coordinator|segtune-worker' || true)
[[ -z "$extra" ]] || fail "unexpected files in bin/: $extra"
stray=$(find "$prefix" -type f \( -name '*_test' -o -name 'segtune_bench_*' -o -name '*_tool' \) || true)
[[ -z "$stray" ]] || fail "test or benchmark binaries installed: $stray"

expect_file share/doc/segtune/README.md
for doc in "$source_dir"/docs/*.md; do expect_file "share/doc/segtune/$(basename "$doc")"; done
for spec in "$source_dir"/examples/*.yaml; do expect_file "share/doc/segtune/examples/$(basename "$spec")"; done
expect_file share/segtune/grafana/dashboards/segtune.json
expect_file share/segtune/grafana/provisioning/dashboards/segtune.yml
expect_file share/segtune/grafana/provisioning/datasources/segtune.yml
expect_file share/segtune/prometheus/prometheus.yml
expect_file share/segtune/prometheus/alerts.yml

for unit in segtune-coordinator.service segtune-worker@.service; do
  path="$prefix/lib/systemd/system/$unit"
  if [[ ! -f "$path" ]]; then
    fail "lib/systemd/system/$unit not installed"
    continue
  fi
  binary=${unit%.service}
  binary=${binary%@}
  grep -q "^ExecStart=$prefix/bin/$binary " "$path" || fail "$unit does not start $prefix/bin/$binary: $(grep ^ExecStart= "$path")"
done

if ((failures > 0)); then
  echo "$failures check(s) failed"
  exit 1
fi
echo "install into a temporary prefix: all checks passed"
