#!/usr/bin/env bash
# Debian's headless Chromium and its driver for the dashboard's browser test (a test tool's own
# browser download cannot work here), plus a CJK font so screenshots show the Chinese names.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null && fc-list 2>/dev/null | grep -qi "wenquanyi\|noto.*cjk"; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "browser: install chromium chromium-driver fonts-wqy-microhei (as root) for tests/browser" >&2
    exit 1
fi
echo "browser: installing chromium, chromium-driver and a CJK font (Debian packages)"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q chromium chromium-driver fonts-wqy-microhei >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver fonts-wqy-microhei >/dev/null; }
