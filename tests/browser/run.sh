#!/usr/bin/env bash
# Runs the browser checks (browser-e2e.mjs) in headless Chromium against a running cubby:
#   ENDPOINT=http://127.0.0.1:9000 ADMIN_ACCESS_KEY=… ADMIN_SECRET_KEY=… tests/browser/run.sh
# Optional: SERVER_LOG=<the server's log file> (the console's sign-up is confirmed with the
# logged code), SCREENSHOT_DIR=<dir> (default: a fresh temp dir; the path is printed).
# Uses Debian's chromium (/usr/bin/chromium, installed with apt-get when missing) through
# playwright-core; never downloads a browser. npm packages go into $CUBBY_BROWSER_NODE_DIR
# (default: a cache dir outside the repo), installed when missing or when package.json
# changed; the seed snippet is bundled there with esbuild. The last line is "N passed, N failed".
# BROWSER_POST_FORM=1 also runs the POST-form checks (scripts/test sets it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${ENDPOINT:?set ENDPOINT}" "${ADMIN_ACCESS_KEY:?set ADMIN_ACCESS_KEY (root key id)}" "${ADMIN_SECRET_KEY:?set ADMIN_SECRET_KEY}"
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi
dir=${CUBBY_BROWSER_NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cubby-tests/browser}
mkdir -p "$dir"
cp "$here/package.json" "$here/browser-e2e.mjs" "$here/seed-snippet.js" "$dir/"
cd "$dir"
if [ ! -d node_modules ] || ! cmp -s package.json .installed-package.json; then
  # Never let playwright fetch a browser of its own.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error >&2
  cp package.json .installed-package.json
fi
node_modules/.bin/esbuild seed-snippet.js --bundle --format=iife --global-name=seed \
  --platform=browser --target=es2020 --log-level=warning --outfile=seed.bundle.js >&2
export SEED_BUNDLE="$dir/seed.bundle.js"
export AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE=1
exec node browser-e2e.mjs
