#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into ./build-fuzz and runs each for
# a while (default 60 s; first argument to change it). Corpora grow in
# build-fuzz/corpus/<target>; a failing input is left in build-fuzz/
# (crash-*, leak-*, timeout-*, oom-*). Every target runs; the last line is
# "fuzzing: N passed, N failed", and the exit status is non-zero on a failure.
# `scripts/test.sh --sanitize` runs it for a few seconds per target.
#
#   scripts/fuzz.sh          60 s per target
#   scripts/fuzz.sh 600      ten minutes per target
#   MM_FUZZ_ARGS="-jobs=2"   extra libFuzzer options
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
seconds=${1:-60}
# The config fuzzers load a fixture (tests/fuzz/meson.build); without
# ../shared they are skipped, as the fixture tests are, unless
# MM_REQUIRE_FIXTURES=1.
fixtures=${MM_SHARED_DIR:-$here/../shared}/fixtures

# Only the fuzz targets are built: they compile the sources they test
# themselves, with coverage instrumentation, and link nothing else of mmrun.
MM_EXTRA_PACKAGES="clang libclang-rt-14-dev" MM_BUILD_DIR=build-fuzz MM_CONFIGURE_ONLY=1 \
  MM_SETUP_ARGS="-Dfuzz=true --buildtype=debugoptimized" CC=clang scripts/setup.sh
ninja -C build-fuzz build.ninja > /dev/null # a reconfigure first, so targets added since are listed
mapfile -t targets < <(ninja -C build-fuzz -t targets all | sed -n 's|^\(tests/fuzz/fuzz_[a-z0-9_]*\): .*|\1|p')
[ ${#targets[@]} -gt 0 ] || { echo "no fuzz targets configured (is CC clang?)"; exit 1; }
ninja -C build-fuzz "${targets[@]}"

cd build-fuzz
mkdir -p corpus/fuzz_safetensors
python3 ../tests/fuzz/make_corpus.py corpus/fuzz_safetensors
passed=0 failed=0 skipped=0
for t in "${targets[@]}"; do
  name=$(basename "$t")
  if [[ $name == fuzz_encoder_config_* ]] && [ ! -d "$fixtures" ] && [ "${MM_REQUIRE_FIXTURES:-0}" != 1 ]; then
    echo "== $name: SKIP: $fixtures missing"
    skipped=$((skipped + 1))
    continue
  fi
  mkdir -p "corpus/$name"
  # committed seeds (valid files) start the search where parsing gets deep
  seeds="../tests/fuzz/${name#fuzz_}_seeds"
  [ -d "$seeds" ] && cp "$seeds"/* "corpus/$name/"
  dict=()
  [ -f "../tests/fuzz/${name#fuzz_}.dict" ] && dict=(-dict="../tests/fuzz/${name#fuzz_}.dict")
  echo "== $name ($seconds s)"
  rc=0
  # shellcheck disable=SC2086  # MM_FUZZ_ARGS is a word list
  "$t" "${dict[@]}" -max_total_time="$seconds" ${MM_FUZZ_ARGS:-} -print_final_stats=1 "corpus/$name" > "$name.log" 2>&1 || rc=$?
  grep -E "^(stat::number_of_executed_units|SUMMARY)|ERROR|runtime error" "$name.log" || true
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $name found a failing input: build-fuzz/$name.log, build-fuzz/{crash,leak,timeout,oom}-*"
  fi
done
[ "$skipped" -eq 0 ] || echo "($skipped skipped: see the SKIP reasons above)"
echo "fuzzing: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
