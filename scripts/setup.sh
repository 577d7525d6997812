#!/usr/bin/env bash
# Installs every dependency condense needs from Debian packages (idempotent), plus ONNX Runtime
# from npm for the interop tests and benchmarks. Run as root or with sudo available.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config git
  libonnx-dev libprotobuf-dev protobuf-compiler libdnnl-dev
  ocl-icd-opencl-dev opencl-headers  # dnnl-config.cmake looks for OpenCL even for the CPU build
  libcli11-dev nlohmann-json3-dev libfmt-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  zlib1g-dev libjpeg62-turbo-dev libpng-dev
  clang-14 libclang-rt-14-dev
  libonnx-testdata dataset-fashion-mnist
  python3-torch python3-numpy ccache
)
# Node.js runs ONNX Runtime for interop tests and benchmarks; a machine may already have its own.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

sudo_cmd=()
if [ "$(id -u)" != 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

# ONNX Runtime (CPU) for interop tests and benchmarks. --ignore-scripts: the package ships its CPU
# binaries; its install script would try to download more and fails offline.
if [ ! -d bench/peers/node_modules/onnxruntime-node ]; then
  echo "setup: installing onnxruntime-node into bench/peers"
  (cd bench/peers && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
