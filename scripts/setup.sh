#!/usr/bin/env bash
# Set up this checkout on a Debian machine: the cross toolchain, QEMU, a .venv with pinned packages.
#
#   scripts/setup.sh          what `tinyodl run` needs
#   scripts/setup.sh --test   plus what the test suite needs (host clang with libFuzzer, stm32flash,
#                             TensorFlow + LiteRT + tflite-micro as the oracles: the .venv is 1.9 GB)
#
# Idempotent and quick when everything is there. As root it installs what is missing with
# `apt-get install --no-install-recommends`; otherwise it prints the command to run and exits 2.
# QEMU >= 9 is preferred (its b-l475e-iot01a machine runs the STM32L4 board image unchanged): on Debian
# bookworm it comes from bookworm-backports, whose apt source is derived from the machine's own Debian
# source entry.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WANT_TEST=0
for arg in "$@"; do
    case "$arg" in
        --test) WANT_TEST=1 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

say() { printf 'setup: %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
is_root() { [ "$(id -u)" = 0 ]; }

APT_UPDATED=0
apt_install() {  # apt_install [-t SUITE] PACKAGE...
    if ! is_root; then
        say "missing: $*"
        say "run as root: apt-get update && apt-get install -y --no-install-recommends $*"
        exit 2
    fi
    if [ "$APT_UPDATED" = 0 ]; then
        say "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
        APT_UPDATED=1
    fi
    say "apt-get install --no-install-recommends $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

# --- cross toolchain ------------------------------------------------------------------------------
missing=()
have arm-none-eabi-gcc || missing+=(gcc-arm-none-eabi)
[ -f /usr/lib/arm-none-eabi/newlib/thumb/v7e-m+fp/hard/libc_nano.a ] || missing+=(libnewlib-arm-none-eabi)
have make || missing+=(make)
if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi

# --- QEMU ------------------------------------------------------------------------------------------
qemu_has_l4() { have qemu-system-arm && qemu-system-arm -M help 2>/dev/null | grep -q '^b-l475e-iot01a '; }

backports_source() {  # writes an apt source for <codename>-backports from the existing Debian entry
    local codename uri=""
    codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
    [ -n "$codename" ] || return 1
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        uri="$(awk -v c="$codename" '
            /^URIs:/ { u = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == c) { print u; exit } }
        ' /etc/apt/sources.list.d/debian.sources)"
    fi
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri="$(awk -v c="$codename" '$1 == "deb" && $3 == c { print $2; exit }' /etc/apt/sources.list)"
    fi
    [ -n "$uri" ] || return 1
    printf 'Types: deb\nURIs: %s\nSuites: %s-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$uri" "$codename" > /etc/apt/sources.list.d/tinyodl-backports.sources
    APT_UPDATED=0
    echo "$codename-backports"
}

if ! qemu_has_l4; then
    suite=""
    if is_root && [ ! -f /etc/apt/sources.list.d/tinyodl-backports.sources ]; then
        suite="$(backports_source || true)"
    elif [ -f /etc/apt/sources.list.d/tinyodl-backports.sources ]; then
        suite="$(awk '/^Suites:/ { print $2 }' /etc/apt/sources.list.d/tinyodl-backports.sources)"
    fi
    if [ -n "$suite" ] && apt_install -t "$suite" qemu-system-arm; then
        :
    fi
    if ! have qemu-system-arm; then
        apt_install qemu-system-arm
    fi
    if ! qemu_has_l4; then
        say "this QEMU has no STM32L4 machine: the L4 board runs as its mps2-an386 twin build"
    fi
fi

# --- test tools ------------------------------------------------------------------------------------
if [ "$WANT_TEST" = 1 ]; then
    missing=()
    have clang || missing+=(clang)
    ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a >/dev/null 2>&1 || missing+=(libclang-rt-dev)
    have stm32flash || missing+=(stm32flash)
    if [ "${#missing[@]}" -gt 0 ]; then
        if is_root; then apt_install "${missing[@]}"; else say "optional test tools missing: ${missing[*]}"; fi
    fi
fi

# --- Python ----------------------------------------------------------------------------------------
PY="${PYTHON:-python3}"
have "$PY" || apt_install python3 python3-venv
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    say "Python >= 3.11 is needed; $PY is $("$PY" --version 2>&1)"
    exit 2
fi
VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    if ! "$PY" -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        apt_install python3-venv
        "$PY" -m venv "$VENV"
    fi
fi
extras=""
[ "$WANT_TEST" = 1 ] && extras="[test,tf]"
stamp="$VENV/.tinyodl-setup-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)${extras:+-test}"
if [ ! -f "$stamp" ]; then
    say "installing tinyodl${extras} and its pinned dependencies into .venv"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT$extras"
    rm -f "$VENV"/.tinyodl-setup-*
    touch "$stamp"
fi
say "ready: $VENV/bin/tinyodl"
