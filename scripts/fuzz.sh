#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into ./build-fuzz and runs each for
# a while (default 60 s; first argument to change it). Corpora grow in
# build-fuzz/corpus/<target>; a crash leaves its input in build-fuzz/ and
# stops with a non-zero exit.
#
#   scripts/fuzz.sh          60 s per target
#   scripts/fuzz.sh 600      ten minutes per target
#   MM_FUZZ_ARGS="-jobs=2"   extra libFuzzer options
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
seconds=${1:-60}

MM_EXTRA_PACKAGES="clang libclang-rt-14-dev" MM_BUILD_DIR=build-fuzz \
  MM_SETUP_ARGS="-Dfuzz=true --buildtype=debugoptimized" CC=clang scripts/setup.sh

cd build-fuzz
mkdir -p corpus/fuzz_safetensors
python3 ../tests/fuzz/make_corpus.py corpus/fuzz_safetensors
for t in tests/fuzz/fuzz_*; do
  [ -x "$t" ] && [ -f "$t" ] || continue
  name=$(basename "$t")
  mkdir -p "corpus/$name"
  dict=()
  [ -f "../tests/fuzz/${name#fuzz_}.dict" ] && dict=(-dict="../tests/fuzz/${name#fuzz_}.dict")
  echo "== $name ($seconds s)"
  rc=0
  "$t" "${dict[@]}" -max_total_time="$seconds" ${MM_FUZZ_ARGS:-} -print_final_stats=1 "corpus/$name" > "$name.log" 2>&1 || rc=$?
  grep -E "^(stat::number_of_executed_units|SUMMARY)|ERROR|runtime error" "$name.log" || true
  [ "$rc" -eq 0 ] || { echo "$name found a failing input: build-fuzz/$name.log, build-fuzz/crash-*"; exit 1; }
done
echo "fuzzing: no failures"
