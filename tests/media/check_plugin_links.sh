#!/bin/sh
# Fails when a plugin loads a media library, directly or through libmm: a
# plugin must not pull in libpng, libjpeg, libwebp, libsndfile, libsamplerate
# or FFTW (those belong to libmm-media, which programs link).
#
#   check_plugin_links.sh PLUGIN.so...               every file must be clean
#   check_plugin_links.sh --expect-media LIB.so...   every file must show one
#                                                    (proves the check can fail)
forbidden='lib(png|jpeg|turbojpeg|webp|sndfile|samplerate|fftw3)[^ ]*\.so'
expect=0
if [ "${1:-}" = --expect-media ]; then
  expect=1
  shift
fi
[ $# -gt 0 ] || { echo "usage: $0 [--expect-media] FILE.so..." >&2; exit 2; }
status=0
for f in "$@"; do
  # ldd lists the whole dependency closure (libmm's NEEDED included).
  deps=$(ldd "$f") || { echo "$f: ldd failed" >&2; exit 2; }
  # An unresolved library hides its own dependencies: refuse to judge.
  if printf '%s\n' "$deps" | grep -q 'not found'; then
    echo "$f: unresolved libraries, cannot check:" >&2
    printf '%s\n' "$deps" | grep 'not found' >&2
    exit 2
  fi
  found=$(printf '%s\n' "$deps" | grep -oE "$forbidden" | sort -u | tr '\n' ' ')
  if [ "$expect" = 1 ]; then
    if [ -n "$found" ]; then echo "$f: links $found(as expected)"; else echo "$f: links no media library" >&2; status=1; fi
  else
    if [ -n "$found" ]; then echo "$f: links media libraries: $found" >&2; status=1; else echo "$f: no media library"; fi
  fi
done
exit $status
