#!/usr/bin/env bash
# Install (if needed) Debian's Chromium and its WebDriver for tests/console/test_browser.py.
#
# Idempotent: where both are installed it only checks them. The last line of stdout is
# Chromium's version; a missing or broken browser exits non-zero.
set -euo pipefail

log() { echo "chromium.sh: $*" >&2; }

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    log "installing chromium and chromium-driver from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq chromium chromium-driver >&2
fi
chromedriver --version >&2
chromium --headless --no-sandbox --disable-gpu --version
