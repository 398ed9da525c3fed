#!/usr/bin/env bash
# Installs every build and test dependency from Debian packages (run as root, or with sudo).
#   libvulkan-dev, glslang-tools  Vulkan headers/loader and the GLSL -> SPIR-V compiler
#   mesa-vulkan-drivers           lavapipe, the CPU Vulkan device tests run on. Taken from
#                                 bookworm-backports (Mesa 25): the same binary runs 2-3x faster
#                                 there than on Debian 12's Mesa 22.3 (conv2d 4.6 -> 14.2 GFLOP/s;
#                                 Mesa 22 turns each storage-buffer load into a per-lane loop).
#                                 SDVK_STOCK_MESA=1 keeps the stock bookworm driver instead.
#   vulkan-validationlayers       tests fail on any Khronos validation message
#   vulkan-tools                  vulkaninfo, for checking a driver by hand
#   libgtest-dev                  the test framework
#   nlohmann-json3-dev            model configs and tokenizer files are JSON
#   libsentencepiece-dev          SentencePiece tokenizers
#   libstb-dev, libpng-dev        image reading and PNG writing with text chunks; stb_truetype
#                                 rasterises the text of `score --sheet`
#   fonts-dejavu-core             the TrueType font (DejaVu Sans) that text is drawn in
#   libsqlite3-dev                the image index of `sdvk index` / `sdvk search`: transactions
#                                 make an interrupted run resumable
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
cd "$(dirname "$0")"

MESA_SUITE=()
if [ "${SDVK_STOCK_MESA:-0}" != 1 ]; then
  # bookworm-backports is a suite of the same Debian archive apt already uses: take that
  # archive's URI from apt's own sources (no mirror is named here).
  if ! apt-cache policy 2>/dev/null | grep -q 'bookworm-backports'; then
    uri=$(bash ./debian-archive-uri.sh)
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" \
      | $SUDO tee /etc/apt/sources.list.d/sdvk-bookworm-backports.sources >/dev/null
  fi
  MESA_SUITE=(-t bookworm-backports)
fi

$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build pkg-config \
  libvulkan-dev glslang-tools vulkan-validationlayers vulkan-tools \
  libgtest-dev nlohmann-json3-dev libsentencepiece-dev libstb-dev libpng-dev \
  fonts-dejavu-core libsqlite3-dev >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${MESA_SUITE[@]}" mesa-vulkan-drivers >/dev/null
dpkg-query -W -f='mesa-vulkan-drivers ${Version}\n' mesa-vulkan-drivers
