#!/bin/sh
# Runs every test program given (paths below BUILD), from the project root,
# and prints one closing line "tests: N passed, N failed" counted from
# cmocka's own summaries. Exit status 1 when any test failed or a program
# crashed, 0 otherwise.
build=$1; shift
passed=0; failed=0; broken=""
for t in "$@"; do
    out=$(mktemp)
    "$build/$t" >"$out" 2>&1
    rc=$?
    cat "$out"
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
    rm -f "$out"
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [ "$rc" -ne 0 ] && [ -z "$f" ]; then
        # crashed or sanitizer abort before cmocka could summarise
        failed=$((failed + 1)); broken="$broken $t"
    fi
done
[ -n "$broken" ] && echo "test programs that crashed:$broken"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
