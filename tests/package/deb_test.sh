#!/usr/bin/env bash
# `cpack -G DEB` into a temporary directory, then checks the package with
# dpkg-deb: its name and version, Depends computed by dpkg-shlibdeps, the
# maintainer script that creates the segtune user, and the files inside
# (binaries stripped, units starting /usr/bin/..., no test binaries).
# Usage: deb_test.sh CPACK BUILD_DIR VERSION TORCH_FROM_DEBIAN(0|1)
set -euo pipefail
cpack_command=$1 build_dir=$2 version=$3 torch_from_debian=$4

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

"$cpack_command" --config "$build_dir/CPackConfig.cmake" -G DEB -B "$out" >"$out/cpack.log" 2>&1 ||
  { cat "$out/cpack.log"; exit 1; }
shopt -s nullglob
debs=("$out"/*.deb)
if ((${#debs[@]} != 1)); then
  cat "$out/cpack.log"
  echo "FAIL: expected one .deb in $out, found ${#debs[@]}"
  exit 1
fi
deb=${debs[0]}
[[ $(basename "$deb") == "segtune_${version}_$(dpkg --print-architecture).deb" ]] || fail "file name $(basename "$deb")"

field() { dpkg-deb --field "$deb" "$1"; }
[[ $(field Package) == segtune ]] || fail "Package: $(field Package)"
[[ $(field Version) == "$version" ]] || fail "Version: $(field Version)"
[[ -n $(field Maintainer) && -n $(field Homepage) && -n $(field Description) ]] || fail "Maintainer/Homepage/Description missing"
depends=$(field Depends)
expected_depends=(adduser libgrpc++ libprotobuf libabsl libsqlite3)
if [[ $torch_from_debian == 1 ]]; then expected_depends+=(libtorch); fi
for package in "${expected_depends[@]}"; do
  [[ $depends == *"$package"* ]] || fail "Depends lacks $package: $depends"
done
dpkg-deb --info "$deb" postinst | grep -q 'adduser --system' || fail "postinst does not create the segtune user"

contents=$(dpkg-deb --contents "$deb" | awk '{print $NF}')
for path in ./usr/bin/segtune ./usr/bin/segtune-coordinator ./usr/bin/segtune-worker \
            ./usr/lib/systemd/system/segtune-coordinator.service ./usr/lib/systemd/system/segtune-worker@.service \
            ./usr/share/doc/segtune/README.md ./usr/share/doc/segtune/cli.md ./usr/share/doc/segtune/examples/asha.yaml \
            ./usr/share/segtune/grafana/dashboards/segtune.json \
            ./usr/share/segtune/grafana/provisioning/datasources/segtune.yml; do
  grep -qxF "$path" <<<"$contents" || fail "$path not in the package"
done
stray=$(grep -E '_test$|/segtune_bench_|_tool$|^\./usr/local/|_CPack_Packages' <<<"$contents" || true)
[[ -z "$stray" ]] || fail "unexpected paths in the package: $stray"

root="$out/root"
dpkg-deb --extract "$deb" "$root"
for unit in segtune-coordinator.service segtune-worker@.service; do
  binary=${unit%.service}
  grep -q "^ExecStart=/usr/bin/${binary%@} " "$root/usr/lib/systemd/system/$unit" ||
    fail "$unit: $(grep ^ExecStart= "$root/usr/lib/systemd/system/$unit")"
done
for binary in "$root"/usr/bin/*; do
  if readelf -S "$binary" | grep -q '\.debug_info'; then fail "$(basename "$binary") is not stripped"; fi
done

if ((failures > 0)); then
  echo "$failures check(s) failed"
  exit 1
fi
echo "$(basename "$deb"): $(stat -c %s "$deb") bytes, all checks passed"
