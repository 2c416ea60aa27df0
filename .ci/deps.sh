#!/usr/bin/env bash
# Installs what the build and tests need, only what is missing. Idempotent; needs root (or
# sudo) for apt-get when Debian packages are missing.
set -euo pipefail
cbindgen_version="${1:-0.29.4}"
export PATH="$HOME/.cargo/bin:$PATH"

# python3-venv, -pip, -setuptools and -wheel: make test-python-package builds the Python package
# offline and pip-installs it into a fresh virtual environment (enough on their own when python3
# is Debian's; another interpreter on PATH is served by pip below).
# liburing-dev: make bench-append only (the io_uring row of issue 14's measurement).
apt_packages=(libcmocka-dev pkg-config valgrind python3-pytest protobuf-compiler libraft-dev libuv1-dev
  python3-venv python3-pip python3-setuptools python3-wheel liburing-dev)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! python3 -c 'import pytest' 2>/dev/null; then
  echo "deps: installing pytest for $(python3 --version)"
  python3 -m pip install --quiet pytest
fi

# make test-python-package builds the package with setuptools, offline (--no-build-isolation):
# it needs pip, a setuptools that reads pyproject.toml's [project] (>= 61), and one that builds
# wheels by itself (>= 70.1) or the wheel package.
builds_python_package_offline() {
  python3 - 2>/dev/null <<'PY'
import importlib.util, sys
import setuptools
major = int(setuptools.__version__.split(".")[0])
wheels = importlib.util.find_spec("setuptools.command.bdist_wheel") or importlib.util.find_spec("wheel")
sys.exit(0 if major >= 61 and wheels and importlib.util.find_spec("pip") else 1)
PY
}
if ! builds_python_package_offline; then
  echo "deps: installing setuptools and wheel for $(python3 --version)"
  python3 -m pip install --quiet --upgrade setuptools wheel
fi

# The wolf-grpc test generates its Python client from the .proto files with grpcio-tools.
if ! python3 -c 'import grpc, grpc_tools' 2>/dev/null; then
  echo "deps: installing grpcio and grpcio-tools for $(python3 --version)"
  python3 -m pip install --quiet grpcio grpcio-tools
fi

if ! command -v cbindgen >/dev/null || [ "$(cbindgen --version | awk '{print $2}')" != "$cbindgen_version" ]; then
  echo "deps: installing cbindgen $cbindgen_version"
  cargo install --quiet --locked cbindgen --version "$cbindgen_version"
fi

# The fuzz targets (make fuzz, make test-fuzz) need a nightly toolchain and cargo-fuzz. A
# failure here is reported, not fatal: test-fuzz then says it skips.
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "deps: installing the nightly toolchain (for cargo-fuzz)"
  rustup toolchain install nightly --profile minimal ||
    echo "deps: could not install nightly: make test-fuzz will skip the fuzz targets" >&2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "deps: installing cargo-fuzz"
  cargo install --quiet --locked cargo-fuzz ||
    echo "deps: could not install cargo-fuzz: make test-fuzz will skip the fuzz targets" >&2
fi

rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
echo "deps: ready"
