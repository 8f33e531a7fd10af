#!/usr/bin/env bash
# Build the dashboard's static export (web/out) unless it is up to date with its sources.
#
#   web/build.sh            (make web; make run and the browser tests call it too)
#   WEB_FORCE=1 web/build.sh  rebuilds anyway
#
# Up to date means: web/out/.source-hash matches a hash of the sources, the lock file and the
# configuration. Needs Node.js 18.18+ and npm (packages from the npm registry, nothing else: no
# fonts or telemetry are fetched). Exit 3 when Node.js or npm is missing, saying what to install.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '[web] %s\n' "$*" >&2; }

# One build at a time (make run, a test and a launcher may all ask at once); the next one then
# finds the export up to date.
exec 9>.build-lock
flock 9

sources_hash() {
    local paths=(src package.json package-lock.json next.config.mjs tsconfig.json)
    [ -d public ] && paths+=(public)
    find "${paths[@]}" -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1
}

hash="$(sources_hash)"
if [ -z "${WEB_FORCE:-}" ] && [ -f out/index.html ] && [ "$(cat out/.source-hash 2>/dev/null)" = "$hash" ]; then
    say "dashboard up to date (web/out)"
    exit 0
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    say "Node.js and npm are needed to build the dashboard (Debian: apt-get install nodejs npm)."
    say "Without them the gateway serves the API, and / is a minimal sign-in page."
    exit 3
fi
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>18||(a===18&&b>=18)?0:1)'; then
    say "Node.js $(node --version) is too old for the dashboard: it needs 18.18 or newer."
    exit 3
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing the dashboard's packages (npm ci)…"
    npm ci --no-audit --no-fund --loglevel=error
fi
say "building the dashboard (next build, about a minute)…"
export NEXT_TELEMETRY_DISABLED=1
npx --no-install next build
echo "$hash" >out/.source-hash
say "dashboard built: web/out"
