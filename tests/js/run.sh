#!/usr/bin/env bash
# Runs the user-pool end-to-end check (userpool-e2e.mjs) against a running cubby:
#   ENDPOINT=http://127.0.0.1:9000 ADMIN_ACCESS_KEY=… ADMIN_SECRET_KEY=… tests/js/run.sh
# Optional: SERVER_LOG=<the server's log file> confirms the sign-up with the code the server
# logged (its default code delivery) instead of AdminConfirmSignUp.
# npm packages go into $CUBBY_JS_NODE_DIR (default: a cache dir outside the repo) and are
# installed when missing or when package.json changed. Exit 0 only if every check passed; the
# last line is "N passed, N failed".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${ENDPOINT:?set ENDPOINT}" "${ADMIN_ACCESS_KEY:?set ADMIN_ACCESS_KEY (root key id)}" "${ADMIN_SECRET_KEY:?set ADMIN_SECRET_KEY}"
dir=${CUBBY_JS_NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cubby-tests/node}
mkdir -p "$dir"
cp "$here/package.json" "$here/userpool-e2e.mjs" "$dir/"
cd "$dir"
if [ ! -d node_modules ] || ! cmp -s package.json .installed-package.json; then
  npm install --no-audit --no-fund --loglevel=error >&2
  cp package.json .installed-package.json
fi
export AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE=1
exec node userpool-e2e.mjs
