#!/usr/bin/env bash
# Refuses infinities in GLSL shader sources (issue 10): a driver may assume
# no Inf/NaN unless a shader declares otherwise, and LLVM-based drivers fold
# comparisons with -inf away. Masked scores use the finite sentinels of
# shaders/mask.glsl instead. Comments are ignored.
#
#   lint_shaders.sh FILE|DIR...  exit 1 naming each offending line (a DIR:
#                                its *.comp and *.glsl)
#   lint_shaders.sh --self-test  checks that each pattern is caught
set -uo pipefail

# One regular expression per way of writing an infinity in GLSL.
patterns=(
  '[0-9.]\s*/\s*-?\s*0+(\.0*)?([eE][-+]?[0-9]+)?[fF]?\b'  # 1.0 / 0.0, -1.0/0.
  '\b(INF|INFINITY|NEG_INF|POS_INF|inf|HUGE_VAL)\b'       # named constants
  '\bisinf\s*\('                                          # tests a compiler may fold away
  '(uint|int)BitsToFloat\s*\(\s*(0x[7fF][fF]800000|2139095040|4286578688|-8388608)'  # bit patterns
  '\b[0-9]+(\.[0-9]*)?[eE]\+?(39|[4-9][0-9]|[0-9]{3,})\b' # literals beyond FLT_MAX
)

lint() {
  local bad=0 f
  for f in "$@"; do
    # strip /* */ and // comments, keeping line numbers
    local code
    code=$(perl -0777 -pe 's{/\*.*?\*/}{ my $c = $&; $c =~ s/[^\n]//g; $c }gse; s{//[^\n]*}{}g' "$f") || return 2
    local p
    for p in "${patterns[@]}"; do
      local hits
      hits=$(printf '%s\n' "$code" | grep -nP "$p")
      if [ -n "$hits" ]; then
        printf '%s\n' "$hits" | sed "s|^|$f:|; s|$|   <- an infinity (use mask.glsl's finite sentinels)|"
        bad=1
      fi
    done
  done
  return $bad
}

if [ "${1:-}" = --self-test ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  cases=('const float NEG = -1.0 / 0.0;' 'float x = 1./0.;' 'float m = -INFINITY;' 'if (isinf(x)) x = 0.0;'
         'float y = uintBitsToFloat(0xff800000u);' 'float z = 1e39;' 'float w = -3.5e+40;')
  fails=0
  for i in "${!cases[@]}"; do
    printf 'void f() {\n  %s\n}\n' "${cases[$i]}" > "$tmp/bad$i.comp"
    if lint "$tmp/bad$i.comp" > /dev/null; then
      echo "self-test: not caught: ${cases[$i]}"
      fails=1
    fi
  done
  printf '/* -1.0 / 0.0 in a comment */\nconst float MM_MASKED = -3.4028234663852886e38; // -inf\nfloat a = 1.0 / 2.0;\n' > "$tmp/good.comp"
  if ! lint "$tmp/good.comp"; then
    echo "self-test: a clean file was refused"
    fails=1
  fi
  [ $fails = 0 ] && echo "self-test: ${#cases[@]} infinities caught, the clean file passed"
  exit $fails
fi
[ $# -gt 0 ] || { echo "usage: lint_shaders.sh FILE|DIR... | --self-test" >&2; exit 2; }
files=()
for a in "$@"; do
  if [ -d "$a" ]; then files+=("$a"/*.comp "$a"/*.glsl); else files+=("$a"); fi
done
for f in "${files[@]}"; do [ -f "$f" ] || { echo "lint_shaders.sh: no such file: $f" >&2; exit 2; }; done
lint "${files[@]}" && echo "${#files[@]} shader files: no infinities"
