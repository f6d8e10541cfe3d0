#!/usr/bin/env bash
# Sets up (packages + build) and runs the whole test suite. Its last line is
# the count as "N passed, N failed".
#
#   scripts/test.sh               release build in ./build (what CI runs)
#   scripts/test.sh --all         also the heavy Vulkan variants (suite vulkan-all:
#                                 lavapipe at other SIMD widths, tests/meson.build)
#   scripts/test.sh --sanitize    AddressSanitizer + UBSan build in ./build-asan, then
#                                 each fuzz target for a few seconds (scripts/fuzz.sh;
#                                 MM_SANITIZE_FUZZ_SECONDS, default 10), counted as tests
#   scripts/test.sh -- ARGS       extra arguments for `meson test` (e.g. --suite ops)
#
# Fixture tests read ../shared beside the source root (or $MM_SHARED_DIR) and
# skip without it; MM_REQUIRE_FIXTURES=1 turns that skip into a failure, and
# MM_REQUIRE_VULKAN=1 does the same for a missing Vulkan device (.ci/run sets both).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

builddir=build
setup_args=()
sanitize=0
all=0
while [ $# -gt 0 ]; do
  case "$1" in
    --all) all=1 ;;
    --sanitize) sanitize=1; builddir=build-asan
                setup_args=(-Db_sanitize=address,undefined -Db_lundef=false --buildtype=debugoptimized) ;;
    --) shift; break ;;
    *) echo "usage: scripts/test.sh [--all] [--sanitize] [-- meson-test-args]" >&2; exit 2 ;;
  esac
  shift
done

MM_BUILD_DIR=$builddir MM_SETUP_ARGS="${setup_args[*]:-}" scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/tests/lsan.supp}
test_args=()
[ "$all" = 1 ] || test_args+=(--no-suite vulkan-all)
if [ "$sanitize" = 1 ]; then
  test_args+=(--timeout-multiplier 4)
  # lavapipe keeps a little memory reachable only from its own globals, and
  # the Vulkan loader unloads it at vkDestroyInstance: LeakSanitizer then
  # reports a leak in "<unknown module>" that no suppression can name.
  # Keeping the driver loaded leaves that memory reachable, as it really is.
  # The same holds for the validation layer's synchronization validation
  # (tests/meson.build turns it on), whose leaks lsan.supp can then name.
  preload=()
  for lib in libvulkan_lvp.so libVkLayer_khronos_validation.so; do
    lib=/usr/lib/$(gcc -print-multiarch)/$lib
    [ -f "$lib" ] && preload+=("$lib")
  done
  if [ ${#preload[@]} -gt 0 ]; then
    LD_PRELOAD=$(IFS=:; echo "${preload[*]}")
    export LD_PRELOAD ASAN_OPTIONS="$ASAN_OPTIONS:verify_asan_link_order=0"
  fi
fi
log=$(mktemp)
meson test -C "$builddir" --print-errorlogs --num-processes 2 "${test_args[@]}" "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

count() { grep -E "^$1:" "$log" | tail -n1 | awk '{print $NF}'; }
ok=$(count 'Ok'); fail=$(count 'Fail'); xpass=$(count 'Unexpected Pass'); tmo=$(count 'Timeout'); skip=$(count 'Skipped')
ok=${ok:-0}; fail=${fail:-0}; xpass=${xpass:-0}; tmo=${tmo:-0}; skip=${skip:-0}
failed=$((fail + xpass + tmo))
if [ "$failed" -eq 0 ] && [ "$rc" -ne 0 ]; then failed=1; fi   # meson itself failed
rm -f "$log"

if [ "$sanitize" = 1 ]; then
  # The fuzz targets, briefly, so that they cannot rot: each one that
  # builds and finds nothing counts as a passed test. Not under lavapipe's
  # preload (they use no Vulkan, and are built by another compiler).
  flog=$(mktemp)
  env -u LD_PRELOAD scripts/fuzz.sh "${MM_SANITIZE_FUZZ_SECONDS:-10}" 2>&1 | tee "$flog"
  counts=$(sed -n 's/^fuzzing: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$flog")
  fskip=$(sed -n 's/^(\([0-9]*\) skipped: .*/\1/p' "$flog")
  rm -f "$flog"
  if [ -n "$counts" ]; then
    ok=$((ok + ${counts% *})); failed=$((failed + ${counts#* })); skip=$((skip + ${fskip:-0}))
  else
    echo "fuzzing: the targets did not build or run"
    failed=$((failed + 1))
  fi
fi
[ "$skip" -gt 0 ] && echo "($skip skipped: see the SKIP reasons above)"
echo "$ok passed, $failed failed"
[ "$failed" -eq 0 ]
