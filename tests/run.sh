#!/bin/sh
# Runs each test program, shows its output, and adds up their closing
# "N passed, N failed" lines. A program that crashes or prints no such line
# counts as one failure. An argument ending in .sh is a script suite, run with
# sh. A suite that prints "!! SKIPPED: ..." lines has them repeated just above
# the last line, so a skipped suite is never missed. Run from the repository root.
BUILD=${BUILD:-build}
export CSEEK_BIN="${CSEEK_BIN:-$BUILD/cseek}"
export CSEEK_SHARED="${CSEEK_SHARED:-../shared}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
pass=0; fail=0; skipped=""
for t in "$@"; do
    echo "== $t"
    out=$(mktemp)
    case $t in
    *.sh) sh "$t" >"$out" 2>&1 ;;
    *) "$t" >"$out" 2>&1 ;;
    esac
    rc=$?
    cat "$out"
    s=$(grep -E '^!! SKIPPED' "$out")
    [ -n "$s" ] && skipped="$skipped$s
"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
    rm -f "$out"
    if [ -z "$line" ]; then
        echo "!! $t exited $rc without a result line"
        fail=$((fail + 1)); continue
    fi
    p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
    pass=$((pass + p)); fail=$((fail + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "!! $t exited $rc"; fail=$((fail + 1))
    fi
done
[ -n "$skipped" ] && printf '\n%s' "$skipped"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
