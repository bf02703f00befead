#!/usr/bin/env bash
# Installs the Debian 12 packages segtune builds, tests and benchmarks against.
# Uses sudo when not root. Safe to re-run: apt skips what is already there.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  prometheus-cpp-dev
  libsqlite3-dev
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev
  libmuparser-dev
  libpng-dev libjpeg-dev  # image decoding for the voc and folder datasets
  libgtest-dev libgmock-dev
  clang libclang-rt-14-dev  # the spec fuzz target (scripts/fuzz.sh): clang and libFuzzer's runtime
  python3-torch  # the PyTorch reference of the parity tests and benchmarks
  prometheus  # the real server (and promtool) the dashboard and alert tests run against
  chromium fonts-dejavu-core  # renders segtune report's HTML in a test
  openssl  # makes the certificates of the TLS tests (docs/security.md has the recipe)
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

# --- kubectl, for tests/deploy/kubectl_dry_run_test.cc ----------------------
# Debian's kubernetes-client, unless another kubectl already owns
# /usr/bin/kubectl (the Google Cloud SDK's `kubectl` package conflicts with
# it): that one is then left alone and only the binary is unpacked from
# Debian's .deb into $kubectl_dir, where tests/deploy/CMakeLists.txt looks
# before the PATH. Run this script as the user who builds (it uses sudo
# itself); delete $kubectl_dir to unpack a newer one.
kubectl_dir="$HOME/.cache/segtune/kubernetes-client"
if dpkg-query -W -f='${Status}' kubernetes-client 2>/dev/null | grep -q "install ok installed" ||
  [ ! -e /usr/bin/kubectl ]; then
  packages+=(kubernetes-client)
elif [ ! -x "$kubectl_dir/kubectl" ]; then
  echo "install-deps: /usr/bin/kubectl is not Debian's; unpacking kubernetes-client into $kubectl_dir"
  apt-cache show kubernetes-client >/dev/null 2>&1 || "${sudo_cmd[@]}" apt-get update -q
  deb_dir="$(mktemp -d)"
  (cd "$deb_dir" && apt-get download -q kubernetes-client)
  dpkg-deb -x "$deb_dir"/kubernetes-client_*.deb "$deb_dir/root"
  install -D -m 0755 "$deb_dir/root/usr/bin/kubectl" "$kubectl_dir/kubectl"
  rm -rf "$deb_dir"
fi
# --- end of kubectl -----------------------------------------------------------

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
