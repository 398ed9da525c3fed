#!/usr/bin/env bash
# Installs every build and test dependency from Debian packages (run as root, or with sudo).
#   libvulkan-dev, glslang-tools  Vulkan headers/loader and the GLSL -> SPIR-V compiler
#   mesa-vulkan-drivers           lavapipe, the CPU Vulkan device tests run on
#   vulkan-validationlayers       tests fail on any Khronos validation message
#   vulkan-tools                  vulkaninfo, for checking a driver by hand
#   libgtest-dev                  the test framework
#   nlohmann-json3-dev            model configs and tokenizer files are JSON
#   libsentencepiece-dev          SentencePiece tokenizers
#   libstb-dev, libpng-dev        image reading and PNG writing with text chunks
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build pkg-config \
  libvulkan-dev glslang-tools mesa-vulkan-drivers vulkan-validationlayers vulkan-tools \
  libgtest-dev nlohmann-json3-dev libsentencepiece-dev libstb-dev libpng-dev >/dev/null
