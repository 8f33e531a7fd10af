#!/usr/bin/env bash
# Build the instance image on a machine that cannot reach HTTPS from inside a build (or any
# registry): what the image needs from PyPI and npm is fetched here on the host, with the
# ordinary clients, into the build context; the build itself only reaches Debian's mirror.
#
#   docker/instance/build.sh           # build unless the image is up to date with the sources
#   FORCE=1 docker/instance/build.sh   # build anyway
#
# Environment:
#   INSTANCE_IMAGE        tag to build           (default claudecloud/instance:latest)
#   BASE_IMAGE            image to build FROM    (default claudecloud/base:bookworm, made by
#                                                 docker/base/build-base.sh when missing)
#   CLAUDE_CODE           1 = include Claude Code (default 1); 0 = leave it out; standin = the
#                         tests' stand-in (tests/fakes/claude) in its place, for chat tests
#   CLAUDE_CODE_VERSION   npm version or tag     (default latest)
#   FORCE                 1 = rebuild even when up to date
#
# "Up to date" means an image with this tag carries the label io.claudecloud.source-hash equal to
# the hash of this folder, the agent's sources (and its API's), its pins and the settings above.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
INSTANCE_IMAGE="${INSTANCE_IMAGE:-claudecloud/instance:latest}"
BASE_IMAGE="${BASE_IMAGE:-claudecloud/base:bookworm}"
CLAUDE_CODE="${CLAUDE_CODE:-1}"
CLAUDE_CODE_VERSION="${CLAUDE_CODE_VERSION:-latest}"
FORCE="${FORCE:-0}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/claudecloud"
UV="${UV:-uv}"
# The agent and the workspace packages it needs (its API); their sources make the image.
AGENT_PACKAGES=(claudecloud-agent claudecloud-agentapi)
AGENT_SOURCES=(services/agent libs/agentapi)

START=$SECONDS
step() { printf '\n==> [%3ds] %s\n' "$((SECONDS - START))" "$*" >&2; }
say() { printf '    %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

docker info >/dev/null 2>&1 || die "Docker engine does not answer; run scripts/docker-engine.sh"

# The agent's pinned dependencies, from the lock file.
agent_requirements() {
    (cd "$ROOT" && $UV export --quiet --frozen --package claudecloud-agent --no-dev \
        --no-emit-workspace --no-hashes --no-header)
}

source_hash() {
    {
        printf '%s\n' "$BASE_IMAGE" "$CLAUDE_CODE" "$CLAUDE_CODE_VERSION"
        docker image inspect -f '{{.Id}}' "$BASE_IMAGE" 2>/dev/null || true
        cd "$ROOT"
        find docker/instance -maxdepth 1 -type f \( -name '*.sh' -o -name Dockerfile \) -print0 \
            | sort -z | xargs -0 sha256sum
        find "${AGENT_SOURCES[@]}" -type f \( -name '*.py' -o -name '*.toml' -o -name py.typed \) \
            -not -path '*/tests/*' -print0 | sort -z | xargs -0 sha256sum
        agent_requirements
        if [ "$CLAUDE_CODE" = "standin" ]; then sha256sum tests/fakes/claude; fi
    } | sha256sum | cut -c1-16
}

ensure_base() {
    docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && return
    case "$BASE_IMAGE" in
        claudecloud/base:*)
            step "base image $BASE_IMAGE is missing: building it (docker/base/build-base.sh)"
            BASE_TAG="$BASE_IMAGE" bash "$ROOT/docker/base/build-base.sh" ;;
        *)
            step "pulling $BASE_IMAGE"
            docker pull "$BASE_IMAGE" || die "cannot get $BASE_IMAGE; use BASE_IMAGE=claudecloud/base:bookworm (make base-image)" ;;
    esac
}

prepare_wheels() {
    local python_version
    python_version="$(docker run --rm --entrypoint python3 "$BASE_IMAGE" -c \
        'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    step "agent wheels for Python $python_version (uv build + pip download on the host)"
    rm -rf "$HERE/wheels"
    mkdir -p "$HERE/wheels" "$CACHE"
    # Our own packages are built here (the lock's export leaves the workspace out).
    for package in "${AGENT_PACKAGES[@]}"; do
        (cd "$ROOT" && $UV build --quiet --wheel --package "$package" -o "$HERE/wheels")
    done
    # The Agent SDK's platform wheels bundle their own 200 MB Claude Code; the image installs
    # Claude Code itself (the agent names it), so the SDK is built from its sdist, without.
    agent_requirements | grep -v '^claude-agent-sdk==' >"$CACHE/agent-requirements.txt"
    local sdk
    sdk="$(agent_requirements | grep '^claude-agent-sdk==' | cut -d' ' -f1 || true)"
    if [ -n "$sdk" ]; then
        $UV tool run pip wheel --quiet --disable-pip-version-check --no-deps \
            --no-binary claude-agent-sdk --wheel-dir "$HERE/wheels" "$sdk"
    fi
    $UV tool run pip download --quiet --disable-pip-version-check --dest "$HERE/wheels" \
        --only-binary=:all: --implementation cp --python-version "$python_version" \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 \
        -r "$CACHE/agent-requirements.txt"
    say "$(find "$HERE/wheels" -name '*.whl' | wc -l) wheels"
}

prepare_claude_code() {
    rm -rf "$HERE/claude-code"
    mkdir -p "$HERE/claude-code"
    touch "$HERE/claude-code/.keep"
    if [ "$CLAUDE_CODE" = "standin" ]; then
        install -m 0755 "$ROOT/tests/fakes/claude" "$HERE/claude-code/claude"
        say "Claude Code replaced by the tests' stand-in (tests/fakes/claude)"
        return
    fi
    if [ "$CLAUDE_CODE" != "1" ]; then
        say "Claude Code left out (CLAUDE_CODE=$CLAUDE_CODE)"
        return
    fi
    local version dir
    version="$(npm view "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION" version | tail -n1 | tr -d "'" | awk '{print $NF}')"
    [ -n "$version" ] || die "npm does not know @anthropic-ai/claude-code@$CLAUDE_CODE_VERSION"
    dir="$CACHE/claude-code/$version"
    if [ ! -x "$dir/claude" ]; then
        step "Claude Code $version: npm pack @anthropic-ai/claude-code-linux-x64@$version"
        rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
        (cd "$dir.tmp" && npm pack --silent "@anthropic-ai/claude-code-linux-x64@$version" >/dev/null)
        tar -xzf "$dir.tmp"/*.tgz -C "$dir.tmp" package/claude
        mkdir -p "$dir" && mv "$dir.tmp/package/claude" "$dir/claude" && rm -rf "$dir.tmp"
    fi
    ln -f "$dir/claude" "$HERE/claude-code/claude" 2>/dev/null || cp "$dir/claude" "$HERE/claude-code/claude"
    say "Claude Code $version ($(du -h "$dir/claude" | cut -f1))"
}

ensure_base
# One build at a time per checkout: two at once would share (and delete) the context's wheels/.
# The second waits, then finds the image up to date when the sources are the same.
mkdir -p "$CACHE"
exec 9>"$CACHE/instance-build-$(printf '%s' "$HERE" | sha256sum | cut -c1-12).lock"
flock 9
HASH="$(source_hash)"
if [ "$FORCE" != "1" ] \
    && [ "$(docker image inspect -f '{{index .Config.Labels "io.claudecloud.source-hash"}}' "$INSTANCE_IMAGE" 2>/dev/null)" = "$HASH" ]; then
    say "$INSTANCE_IMAGE is up to date (source hash $HASH); FORCE=1 to rebuild."
    exit 0
fi
step "building $INSTANCE_IMAGE from $BASE_IMAGE (source hash $HASH)"
prepare_wheels
prepare_claude_code
step "docker build"
DOCKER_BUILDKIT=0 docker build \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    --build-arg "CLAUDE_CODE=$CLAUDE_CODE" \
    --build-arg "SOURCE_HASH=$HASH" \
    -t "$INSTANCE_IMAGE" "$HERE"
rm -rf "$HERE/wheels" "$HERE/claude-code"
step "done: $INSTANCE_IMAGE ($(docker image inspect -f '{{.Size}}' "$INSTANCE_IMAGE" | awk '{printf "%.0f MB", $1/1000/1000}')) in $((SECONDS - START)) s"
