#!/usr/bin/env bash
# Install (if needed) Debian's bubblewrap, util-linux (prlimit, setpriv) and python3: the
# code-execution sandbox (src/epistula/servertools/sandbox) and its tests (tests/servertools).
#
# Idempotent: where all are installed it only checks them. The last line of stdout is
# bubblewrap's version; a missing or broken sandbox exits non-zero.
set -euo pipefail

log() { echo "bubblewrap.sh: $*" >&2; }

if ! command -v bwrap >/dev/null || ! command -v prlimit >/dev/null || ! command -v setpriv >/dev/null \
    || [ ! -x /usr/bin/python3 ]; then
    log "installing bubblewrap, util-linux and python3 from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq bubblewrap util-linux python3 >&2
fi
# The sandbox must really start here (user namespaces, or root).
bwrap --unshare-net --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib \
    --symlink usr/lib64 /lib64 --proc /proc --dev /dev -- /usr/bin/true >&2
bwrap --version
