#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what cnnrun needs to build, test and run its demo, from Debian 12's
# packages. Run as root. Extra packages for benchmarks and fixtures (PyTorch,
# Darknet) are installed by bench/ and tests/fixtures scripts on request.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  gcc pkg-config meson ninja-build
  libopenblas-dev libyaml-dev libjansson-dev libcriterion-dev
  libstb-dev zlib1g-dev liblinear-dev
  dataset-fashion-mnist
  valgrind python3
)
if [ "${1:-}" = "--with-reference" ]; then
  packages+=(python3-torch python3-numpy darknet)
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}"
