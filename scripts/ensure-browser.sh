#!/usr/bin/env bash
# Makes sure the browser tests can run: Debian's chromium at /usr/bin/chromium and a font
# with Chinese glyphs for the parents' pages (installed with apt-get when missing and
# running as root) and npm's playwright-core at a pinned
# version, unpacked from its registry tarball into the cache (no install scripts run, and
# playwright never downloads a browser). Prints nothing on a second run but "ready".
set -euo pipefail

version=1.64.1
dir="${FACEPAY_BROWSER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/openfacepay/browser}"

if [[ ! -x /usr/bin/chromium ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-browser: installing Debian's chromium"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "ensure-browser: /usr/bin/chromium is missing and cannot be installed here (need root and apt-get)" >&2
    exit 1
  fi
fi

# The pages show schools' and children's names; without a CJK font they render as boxes.
if ! fc-list 2>/dev/null | grep -qi 'wqy\|cjk'; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-browser: installing a font with Chinese glyphs (fonts-wqy-zenhei)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-zenhei >/dev/null 2>&1 ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-zenhei >/dev/null; }
  else
    echo "ensure-browser: no CJK font; Chinese names will show as boxes in screenshots" >&2
  fi
fi

pkg="$dir/node_modules/playwright-core"
if [[ ! -f "$pkg/package.json" ]] || ! grep -q "\"version\": \"$version\"" "$pkg/package.json"; then
  echo "ensure-browser: fetching playwright-core@$version"
  rm -rf "$pkg" && mkdir -p "$pkg"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "playwright-core@$version" >/dev/null)
  tar -xzf "$tmp"/playwright-core-"$version".tgz -C "$pkg" --strip-components=1
  rm -rf "$tmp"
fi
echo "ensure-browser: ready (chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'), playwright-core $version in $dir)"
