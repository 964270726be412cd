#!/bin/sh
# The HTTP server's Node suites: the official OpenAI client (openai_client.mjs)
# and the chat page in headless chromium (browser.mjs). Ends with one line
# "N passed, N failed" for tests/run.sh. Without node, node_modules (npm ci) or
# /usr/bin/chromium it says so loudly ("!! SKIPPED: ...", repeated by run.sh
# above its last line) and counts nothing; with CSEEK_REQUIRE_NODE=1 (.ci/run)
# a skip is a failure. Run from the repository root.
BUILD=${BUILD:-build}
export BUILD
export CSEEK_BIN="${CSEEK_BIN:-$BUILD/cseek}"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export CHROMIUM
dir=$(dirname "$0")
pass=0; fail=0

skip() { # WHY
    echo "!! SKIPPED: $1 (./scripts/install-deps.sh installs it)"
    [ "${CSEEK_REQUIRE_NODE:-0}" = 1 ] && { echo "!! CSEEK_REQUIRE_NODE=1: a skip is a failure"; fail=$((fail + 1)); }
}
run() { # SCRIPT
    echo "-- node $1"
    out=$(mktemp)
    if command -v timeout >/dev/null 2>&1; then
        timeout -k 10 300 node "$dir/$1" >"$out" 2>&1
    else
        node "$dir/$1" >"$out" 2>&1
    fi
    rc=$?
    cat "$out"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
    rm -f "$out"
    if [ -z "$line" ]; then
        echo "!! $1 exited $rc without a result line"; fail=$((fail + 1)); return
    fi
    p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
    pass=$((pass + p)); fail=$((fail + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then echo "!! $1 exited $rc"; fail=$((fail + 1)); fi
}

if ! command -v node >/dev/null 2>&1; then
    skip "node server suites (openai_client, browser): node is not installed"
elif [ "$(node -p 'process.versions.node.split(".")[0] >= 20' 2>/dev/null)" != true ]; then
    skip "node server suites (openai_client, browser): node $(node --version) is older than 20"
elif [ ! -f node_modules/openai/package.json ] || [ ! -f node_modules/playwright-core/package.json ]; then
    skip "node server suites (openai_client, browser): node_modules is missing (npm ci)"
else
    run openai_client.mjs
    if [ -x "$CHROMIUM" ]; then
        run browser.mjs
    else
        skip "chat page browser suite: $CHROMIUM is not installed"
    fi
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
