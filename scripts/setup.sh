#!/usr/bin/env bash
# Set up this checkout on a Debian machine: the cross toolchain, QEMU, a .venv with pinned packages.
#
#   scripts/setup.sh                  what `tinyodl run` needs
#   scripts/setup.sh --test           plus what the test suite needs (host clang with libFuzzer, stm32flash,
#                                     TensorFlow + LiteRT + tflite-micro as the oracles: the .venv is 1.9 GB)
#   scripts/setup.sh --renode TARBALL also install a Renode build from a tarball into .tools/renode/ (its
#                                     runtime apt packages, and a venv for renode-test); TINYODL_RENODE_TARBALL
#                                     does the same. tinyodl finds Renode there, on PATH or via TINYODL_RENODE.
#   scripts/setup.sh --cmsis-nn TARBALL  also unpack a CMSIS-NN source tarball (Include/, Source/) into
#                                     .tools/cmsis-nn/ for `--kernels cmsis-nn`; TINYODL_CMSIS_NN_TARBALL does the
#                                     same. tinyodl finds it there, or where --cmsis-nn DIR / TINYODL_CMSIS_NN say.
#
# Idempotent and quick when everything is there. As root it installs what is missing with
# `apt-get install --no-install-recommends`; otherwise it prints the command to run and exits 2.
# QEMU >= 9 is preferred (its b-l475e-iot01a machine runs the STM32L4 board image unchanged): on Debian
# bookworm it comes from bookworm-backports, whose apt source is derived from the machine's own Debian
# source entry.
#
# The script can be sourced (`TINYODL_SETUP_SOURCED=1 . scripts/setup.sh`) to call its functions alone;
# the tests do that with apt-get stubbed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RENODE_DIR="${TINYODL_RENODE_DIR:-$ROOT/.tools/renode}"  # tinyodl looks in .tools/renode
CMSIS_NN_DIR="${TINYODL_CMSIS_NN_DIR:-$ROOT/.tools/cmsis-nn}"  # tinyodl looks in .tools/cmsis-nn

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
setup_toolchain() {
    local missing=()
    have arm-none-eabi-gcc || missing+=(gcc-arm-none-eabi)
    [ -f /usr/lib/arm-none-eabi/newlib/thumb/v7e-m+fp/hard/libc_nano.a ] || missing+=(libnewlib-arm-none-eabi)
    have make || missing+=(make)
    if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
}

# --- QEMU ------------------------------------------------------------------------------------------
qemu_has_l4() { have qemu-system-arm && qemu-system-arm -M help 2>/dev/null | grep -q '^b-l475e-iot01a '; }

# The apt source for <codename>-backports, derived from the machine's own Debian entry. It runs in the
# setup shell itself, never in a $(...) subshell, so that APT_UPDATED=0 reaches apt_install and apt reads
# the new source before the install. Sets BACKPORTS_SUITE; returns 1 when no Debian entry is found.
APT_SOURCES_DIR="${TINYODL_APT_SOURCES_DIR:-/etc/apt/sources.list.d}"
APT_SOURCES_LIST="${TINYODL_APT_SOURCES_LIST:-/etc/apt/sources.list}"
OS_RELEASE="${TINYODL_OS_RELEASE:-/etc/os-release}"
BACKPORTS_FILE="$APT_SOURCES_DIR/tinyodl-backports.sources"
BACKPORTS_SUITE=""
backports_source() {
    local codename uri=""
    codename="$(. "$OS_RELEASE" && echo "${VERSION_CODENAME:-}")"
    [ -n "$codename" ] || return 1
    if [ -f "$APT_SOURCES_DIR/debian.sources" ]; then
        uri="$(awk -v c="$codename" '
            /^URIs:/ { u = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == c) { print u; exit } }
        ' "$APT_SOURCES_DIR/debian.sources")"
    fi
    if [ -z "$uri" ] && [ -f "$APT_SOURCES_LIST" ]; then
        uri="$(awk -v c="$codename" '$1 == "deb" && $3 == c { print $2; exit }' "$APT_SOURCES_LIST")"
    fi
    [ -n "$uri" ] || return 1
    printf 'Types: deb\nURIs: %s\nSuites: %s-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$uri" "$codename" > "$BACKPORTS_FILE"
    APT_UPDATED=0
    BACKPORTS_SUITE="$codename-backports"
}

setup_qemu() {
    qemu_has_l4 && return 0
    if is_root && [ ! -f "$BACKPORTS_FILE" ]; then
        backports_source || true
    elif [ -f "$BACKPORTS_FILE" ]; then
        BACKPORTS_SUITE="$(awk '/^Suites:/ { print $2 }' "$BACKPORTS_FILE")"
    fi
    if [ -n "$BACKPORTS_SUITE" ] && ! apt_install -t "$BACKPORTS_SUITE" qemu-system-arm; then
        say "QEMU from $BACKPORTS_SUITE did not install; trying the release's own"
    fi
    have qemu-system-arm || apt_install qemu-system-arm
    if ! qemu_has_l4; then
        say "this QEMU has no STM32L4 machine: the L4 board runs as its mps2-an386 twin build"
    fi
}

# --- test tools ------------------------------------------------------------------------------------
setup_test_tools() {
    local missing=()
    have clang || missing+=(clang)
    ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a >/dev/null 2>&1 || missing+=(libclang-rt-dev)
    have stm32flash || missing+=(stm32flash)
    have tmux || missing+=(tmux)  # tinyodl session's interactive test drives a terminal with send-keys
    have chromium || missing+=(chromium)  # the HTML report's render test (headless)
    if [ "${#missing[@]}" -gt 0 ]; then
        if is_root; then apt_install "${missing[@]}"; else say "optional test tools missing: ${missing[*]}"; fi
    fi
}

# --- Python ----------------------------------------------------------------------------------------
PY="${PYTHON:-python3}"
python_ok() {
    have "$PY" || apt_install python3 python3-venv
    if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
        say "Python >= 3.11 is needed; $PY is $("$PY" --version 2>&1)"
        exit 2
    fi
}

make_venv() {  # make_venv DIR
    [ -x "$1/bin/python" ] && return 0
    say "creating $1"
    if ! "$PY" -m venv "$1" 2>/dev/null; then
        rm -rf "$1"
        apt_install python3-venv
        "$PY" -m venv "$1"
    fi
}

setup_venv() {  # setup_venv WANT_TEST
    local venv="$ROOT/.venv" extras="" stamp
    python_ok
    make_venv "$venv"
    [ "$1" = 1 ] && extras="[test,tf,plot,nas]"
    stamp="$venv/.tinyodl-setup-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)${extras:+-test}"
    if [ ! -f "$stamp" ]; then
        say "installing tinyodl${extras} and its pinned dependencies into .venv"
        "$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT$extras"
        rm -f "$venv"/.tinyodl-setup-*
        touch "$stamp"
    fi
}

# --- Renode from a tarball -------------------------------------------------------------------------
# Unpacks a Renode build (a folder holding the `renode` launcher, as Renode's portable packages and the
# Mono build are laid out) into .tools/renode/, installs the apt packages it lists in
# DEBIAN-RUNTIME-PACKAGES.txt (or mono-runtime when it lists none), and a venv with its
# tests/requirements.txt for renode-test. A stamp holds the tarball's sha256: the same tarball is not
# unpacked twice; another one replaces the install.
setup_renode() {  # setup_renode TARBALL
    local tarball="$1" sum stamp="$RENODE_DIR/.tarball-sha256" top tmp
    [ -f "$tarball" ] || { say "--renode: no such file: $tarball"; exit 2; }
    sum="$(sha256sum "$tarball" | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
        say "unpacking Renode from $(basename "$tarball") (sha256 ${sum:0:16}...) into $RENODE_DIR"
        tmp="$(dirname "$RENODE_DIR")/.unpack.$$"
        rm -rf "$tmp" && mkdir -p "$tmp"
        tar -xf "$tarball" -C "$tmp"
        top="$(dirname "$(find "$tmp" -maxdepth 3 -type f -name renode -perm -u+x | sort | head -n 1)")"
        if [ "$top" = . ] || [ ! -x "$top/renode" ]; then
            rm -rf "$tmp"
            say "--renode: $tarball holds no executable 'renode' launcher"
            exit 2
        fi
        rm -rf "$RENODE_DIR"
        mv "$top" "$RENODE_DIR"
        rm -rf "$tmp"
        echo "$sum" > "$stamp"
    fi
    local pkgs=() missing=() p
    if [ -f "$RENODE_DIR/DEBIAN-RUNTIME-PACKAGES.txt" ]; then
        mapfile -t pkgs < <(grep -v '^\s*#' "$RENODE_DIR/DEBIAN-RUNTIME-PACKAGES.txt" | tr -s ' \t' '\n' | grep .)
    elif ! have mono; then
        pkgs=(mono-runtime)
    fi
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
    local req="$RENODE_DIR/tests/requirements.txt" venv="$RENODE_DIR/venv" rstamp
    if [ -f "$req" ]; then
        rstamp="$venv/.requirements-$(cat "$req" "$RENODE_DIR"/tools/*/requirements.txt 2>/dev/null | sha256sum | cut -c1-16)"
        if [ ! -f "$rstamp" ]; then
            python_ok
            # psutil 5.9.3 is a source distribution: it compiles with gcc and the Python headers
            if ! have gcc; then apt_install gcc; fi
            if ! "$PY" -c 'import sysconfig, os, sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)'; then
                apt_install python3-dev
            fi
            make_venv "$venv"
            say "installing renode-test's Python packages into $venv"
            (cd "$RENODE_DIR/tests" && "$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt)
            rm -f "$venv"/.requirements-*
            touch "$rstamp"
        fi
    fi
    say "Renode: $("$RENODE_DIR/renode" --version 2>/dev/null | head -n 1 || echo 'installed, but --version failed')"
}

# --- CMSIS-NN from a tarball -----------------------------------------------------------------------
# Unpacks a CMSIS-NN source tarball (the folder that holds Include/arm_nnfunctions.h and Source/) into
# .tools/cmsis-nn/. Nothing is compiled here: the firmware builds compile it for each board. A stamp holds
# the tarball's sha256: the same tarball is not unpacked twice; another one replaces the tree.
setup_cmsis_nn() {  # setup_cmsis_nn TARBALL
    local tarball="$1" sum stamp="$CMSIS_NN_DIR/.tarball-sha256" top tmp
    [ -f "$tarball" ] || { say "--cmsis-nn: no such file: $tarball"; exit 2; }
    sum="$(sha256sum "$tarball" | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
        return 0
    fi
    say "unpacking CMSIS-NN from $(basename "$tarball") (sha256 ${sum:0:16}...) into $CMSIS_NN_DIR"
    tmp="$(dirname "$CMSIS_NN_DIR")/.unpack-cmsis-nn.$$"
    rm -rf "$tmp" && mkdir -p "$tmp"
    tar -xf "$tarball" -C "$tmp"
    top="$(find "$tmp" -maxdepth 4 -type f -path '*/Include/arm_nnfunctions.h' | sort | head -n 1)"
    top="${top%/Include/arm_nnfunctions.h}"
    if [ -z "$top" ] || [ ! -d "$top/Source" ]; then
        rm -rf "$tmp"
        say "--cmsis-nn: $tarball holds no CMSIS-NN tree (Include/arm_nnfunctions.h and Source/)"
        exit 2
    fi
    rm -rf "$CMSIS_NN_DIR"
    mv "$top" "$CMSIS_NN_DIR"
    rm -rf "$tmp"
    # the version, from the tarball's or its top folder's name (CMSIS-NN-7.0.0), for `tinyodl doctor`
    basename "$top" "$(basename "$tarball")" | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 > "$CMSIS_NN_DIR/.version" || true
    echo "$sum" > "$stamp"
}

main() {
    local want_test=0 renode_tarball="${TINYODL_RENODE_TARBALL:-}" cmsis_nn_tarball="${TINYODL_CMSIS_NN_TARBALL:-}"
    while [ "$#" -gt 0 ]; do
        case "$1" in
            --test) want_test=1 ;;
            --renode)
                [ "$#" -ge 2 ] || { say "--renode needs the path of a Renode tarball"; exit 2; }
                renode_tarball="$2"; shift ;;
            --renode=*) renode_tarball="${1#--renode=}" ;;
            --cmsis-nn)
                [ "$#" -ge 2 ] || { say "--cmsis-nn needs the path of a CMSIS-NN tarball"; exit 2; }
                cmsis_nn_tarball="$2"; shift ;;
            --cmsis-nn=*) cmsis_nn_tarball="${1#--cmsis-nn=}" ;;
            -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
            *) say "unknown option $1"; exit 2 ;;
        esac
        shift
    done
    if [ -n "$renode_tarball" ] && [ ! -f "$renode_tarball" ]; then
        say "--renode: no such file: $renode_tarball"
        exit 2
    fi
    if [ -n "$cmsis_nn_tarball" ] && [ ! -f "$cmsis_nn_tarball" ]; then
        say "--cmsis-nn: no such file: $cmsis_nn_tarball"
        exit 2
    fi
    setup_toolchain
    setup_qemu
    [ "$want_test" = 1 ] && setup_test_tools
    setup_venv "$want_test"
    [ -n "$renode_tarball" ] && setup_renode "$(realpath -m "$renode_tarball")"
    [ -n "$cmsis_nn_tarball" ] && setup_cmsis_nn "$(realpath -m "$cmsis_nn_tarball")"
    say "ready: $ROOT/.venv/bin/tinyodl"
}

if [ -z "${TINYODL_SETUP_SOURCED:-}" ]; then
    main "$@"
fi
