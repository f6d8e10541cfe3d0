#!/usr/bin/env bash
# Installs every Debian 12 package mmrun needs to build, test and benchmark,
# then configures and builds into ./build. Safe to run again.
set -euo pipefail

packages=(
  build-essential meson ninja-build pkg-config     # build
  libjson-c-dev                                    # config.json / safetensors headers
  zlib1g-dev libpng-dev libjpeg62-turbo-dev libwebp-dev       # image front ends
  libsndfile1-dev libsamplerate0-dev libfftw3-dev  # audio front ends, log-mel
  libopenblas-dev                                  # CPU sgemm and benchmark reference
  libvulkan-dev mesa-vulkan-drivers vulkan-tools   # Vulkan loader, lavapipe, vulkaninfo
  vulkan-validationlayers                          # the Vulkan tests run under validation
  glslc spirv-tools                                # shaders -> SPIR-V at build time
  libcmocka-dev                                    # unit test framework
  libpcre2-dev libunistring-dev                    # tokenizers: \p{L} patterns; NFC, case, categories
  libsqlite3-dev                                   # mmrun index/search: the embedding database
)

# Callers needing more (scripts/fuzz.sh: clang) name them here.
# shellcheck disable=SC2206  # MM_EXTRA_PACKAGES is a word list
packages+=(${MM_EXTRA_PACKAGES:-})

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
builddir=${MM_BUILD_DIR:-build}
if [ ! -f "$builddir/build.ninja" ]; then
  # shellcheck disable=SC2086  # MM_SETUP_ARGS is a word list
  meson setup "$builddir" ${MM_SETUP_ARGS:---buildtype=release}
fi
# MM_CONFIGURE_ONLY=1: packages and configuration only (scripts/fuzz.sh
# then builds just its targets).
[ "${MM_CONFIGURE_ONLY:-0}" = 1 ] || ninja -C "$builddir"
