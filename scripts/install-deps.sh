#!/bin/sh
# Installs what cseek needs to build and test on Debian/Ubuntu, skipping what
# is already there: a C compiler with OpenMP, make, pkg-config, and the
# libraries cseek links (PCRE2, utf8proc, cJSON, libmicrohttpd, libedit).
set -e
pkgs="gcc make pkg-config libpcre2-dev libutf8proc-dev libcjson-dev libmicrohttpd-dev libedit-dev"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
