#!/bin/sh
# Installs what cseek needs to build and test on Debian/Ubuntu, skipping what
# is already there: a C compiler with OpenMP, make, pkg-config, and the
# libraries cseek links (PCRE2, utf8proc, cJSON, libmicrohttpd, libedit).
#
# For the tests only (cseek itself needs none of it): Node.js and npm, Debian's
# chromium, and the pinned npm packages of package-lock.json (the OpenAI client
# and playwright-core) in node_modules/, with `npm ci` only when node_modules is
# missing or older than the lock file. CSEEK_NO_TEST_TOOLS=1 skips this part;
# where it fails (no registry, say) it warns and `make test` skips those suites
# loudly.
set -e
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
updated=""
apt_install() { # PACKAGES...
    echo "installing: $*"
    [ -n "$updated" ] || { $SUDO apt-get update -qq; updated=1; }
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@"
}

pkgs="gcc make pkg-config libpcre2-dev libutf8proc-dev libcjson-dev libmicrohttpd-dev libedit-dev"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] || apt_install $missing

[ "${CSEEK_NO_TEST_TOOLS:-0}" = 1 ] && exit 0
warn() { echo "install-deps: warning: $* (make test skips the server's node suites loudly)" >&2; }
# Test tools, by command rather than by package: a node from elsewhere (NodeSource
# ships npm inside its nodejs) is kept as it is.
tools=""
command -v node >/dev/null 2>&1 || tools="$tools nodejs"
command -v npm >/dev/null 2>&1 || tools="$tools npm"
[ -x /usr/bin/chromium ] || tools="$tools chromium"
[ -z "$tools" ] || apt_install $tools || warn "could not install$tools"
if command -v node >/dev/null 2>&1 && [ "$(node -p 'process.versions.node.split(".")[0] >= 20')" != true ]; then
    warn "node $(node --version) is older than 20, which playwright-core needs"
elif command -v npm >/dev/null 2>&1; then
    if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
       [ package.json -nt node_modules/.package-lock.json ]; then
        echo "npm ci (test-only packages: package-lock.json)"
        npm ci --no-audit --no-fund --loglevel=error || warn "npm ci failed"
    fi
fi
exit 0
