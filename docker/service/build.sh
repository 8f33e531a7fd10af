#!/usr/bin/env bash
# Build the one service image (docker/service.Dockerfile) on a machine whose builds cannot reach
# PyPI: the wheels are fetched here on the host, with uv and pip, into a build context of their
# own (outside the repository); the build installs them offline.
#
#   docker/service/build.sh            # build unless the image is up to date with the sources
#   FORCE=1 docker/service/build.sh    # build anyway
#
# Environment:
#   SERVICE_IMAGE   tag to build            (default claudecloud/service:latest)
#   BASE_IMAGE      image to build FROM     (default claudecloud/base:bookworm, made by
#                                            docker/base/build-base.sh when missing)
#   FORCE           1 = rebuild even when up to date
#
# "Up to date" means an image with this tag carries the label io.claudecloud.source-hash equal to
# the hash of the Dockerfile, this folder, the services' and their libraries' sources, the pinned
# requirements, the dashboard's export (when built) and the base image.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SERVICE_IMAGE="${SERVICE_IMAGE:-claudecloud/service:latest}"
BASE_IMAGE="${BASE_IMAGE:-claudecloud/base:bookworm}"
FORCE="${FORCE:-0}"
UV="${UV:-uv}"
SERVICES=(gateway provisioner billing activity netbird audit webhooks)
LIBS=(common agentapi)
PACKAGES=("${LIBS[@]/#/claudecloud-}" "${SERVICES[@]/#/claudecloud-}")
SOURCES=("${LIBS[@]/#/libs/}" "${SERVICES[@]/#/services/}")

START=$SECONDS
step() { printf '\n==> [%3ds] %s\n' "$((SECONDS - START))" "$*" >&2; }
say() { printf '    %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

docker info >/dev/null 2>&1 || die "Docker engine does not answer; run scripts/docker-engine.sh"

# The pins of what `uv sync --package <service> --no-dev` installs, for every service at once.
requirements() {
    local args=()
    for p in "${SERVICES[@]}"; do args+=(--package "claudecloud-$p"); done
    (cd "$ROOT" && $UV export --quiet --frozen --no-dev --no-emit-workspace --no-hashes \
        --no-header "${args[@]}") | grep -v '^ *#'
}

# The base image's PEP 508 marker environment, as JSON.
image_environment() {
    docker run --rm --entrypoint python3 "$BASE_IMAGE" -c '
import json, os, platform, sys
v = sys.implementation.version
print(json.dumps({
    "implementation_name": sys.implementation.name,
    "implementation_version": f"{v.major}.{v.minor}.{v.micro}",
    "os_name": os.name, "platform_machine": platform.machine(),
    "platform_release": platform.release(), "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform}))'
}

# The pins (from stdin) whose markers hold in the environment $1, without their markers.
image_pins() {
    (cd "$ROOT" && $UV run --quiet --frozen python -c '
import json, sys
from packaging.markers import Marker
env = json.loads(sys.argv[1])
for line in sys.stdin:
    pin, _, marker = line.partition(";")
    if pin.strip() and (not marker.strip() or Marker(marker.strip()).evaluate(env)):
        print(pin.strip())
' "$1")
}

# The pins (from stdin) whose package uv.lock knows no wheel of.
sdist_only_pins() {
    python3 -c '
import sys, tomllib
lock = tomllib.load(open(sys.argv[1], "rb"))
no_wheel = {p["name"] for p in lock["package"] if "sdist" in p and not p.get("wheels")}
for line in sys.stdin:
    pin = line.split(";")[0].strip()
    if pin.split("==")[0] in no_wheel:
        print(pin)
' "$ROOT/uv.lock"
}

source_hash() {
    {
        printf '%s\n' "$BASE_IMAGE"
        docker image inspect -f '{{.Id}}' "$BASE_IMAGE" 2>/dev/null || true
        cd "$ROOT"
        sha256sum docker/service.Dockerfile
        find docker/service "${SOURCES[@]}" -type f -not -path '*/__pycache__/*' \
            -not -path '*/tests/*' -not -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum
        requirements
        if [ -f web/out/index.html ]; then
            find web/out -type f -print0 | sort -z | xargs -0 sha256sum
        fi
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
            docker pull "$BASE_IMAGE" || die "cannot get $BASE_IMAGE; use BASE_IMAGE=claudecloud/base:bookworm" ;;
    esac
}

prepare_context() {
    local context="$1" python_version
    python_version="$(docker run --rm --entrypoint python3 "$BASE_IMAGE" -c \
        'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    step "service wheels for Python $python_version (uv build + pip download on the host)"
    mkdir -p "$context/wheels" "$context/web"
    # The markers (python_full_version, sys_platform, ...) are decided for the image's Python
    # here, so the host's own Python and platform never choose what is downloaded.
    requirements | image_pins "$(image_environment)" >"$context/requirements.txt"
    for p in "${PACKAGES[@]}"; do
        (cd "$ROOT" && $UV build --quiet --wheel --package "$p" -o "$context/wheels")
    done
    # Pins PyPI has only as a source archive (python-terraform) are built into wheels here; the
    # rest are downloaded as the image's Python and platform need them.
    local sdist_only
    sdist_only="$(sdist_only_pins <"$context/requirements.txt")"
    if [ -n "$sdist_only" ]; then
        # shellcheck disable=SC2086
        $UV tool run pip wheel --quiet --disable-pip-version-check --no-deps \
            --wheel-dir "$context/wheels" $sdist_only
    fi
    grep -vxF -f <(printf '%s\n' "$sdist_only") "$context/requirements.txt" >"$context/binary.txt" || true
    $UV tool run pip download --quiet --disable-pip-version-check --dest "$context/wheels" \
        --only-binary=:all: --implementation cp --python-version "$python_version" \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 \
        -r "$context/binary.txt"
    rm -f "$context/binary.txt"
    say "$(find "$context/wheels" -name '*.whl' | wc -l) wheels"
    cp -r "$HERE/tools" "$context/tools"
    if [ -f "$ROOT/web/out/index.html" ]; then
        cp -r "$ROOT/web/out/." "$context/web/"
        say "dashboard: web/out included"
    else
        say "dashboard: not built (make web); the gateway serves its minimal page"
    fi
}

ensure_base
HASH="$(source_hash)"
if [ "$FORCE" != "1" ] \
    && [ "$(docker image inspect -f '{{index .Config.Labels "io.claudecloud.source-hash"}}' "$SERVICE_IMAGE" 2>/dev/null)" = "$HASH" ]; then
    say "$SERVICE_IMAGE is up to date (source hash $HASH); FORCE=1 to rebuild."
    exit 0
fi
step "building $SERVICE_IMAGE from $BASE_IMAGE (source hash $HASH)"
CONTEXT="$(mktemp -d "${TMPDIR:-/tmp}/claudecloud-service.XXXXXX")"
trap 'rm -rf "$CONTEXT"' EXIT
prepare_context "$CONTEXT"
step "docker build"
DOCKER_BUILDKIT=0 docker build \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    --build-arg "SOURCE_HASH=$HASH" \
    -f "$ROOT/docker/service.Dockerfile" -t "$SERVICE_IMAGE" "$CONTEXT" >&2
step "done: $SERVICE_IMAGE ($(docker image inspect -f '{{.Size}}' "$SERVICE_IMAGE" | awk '{printf "%.0f MB", $1/1000/1000}')) in $((SECONDS - START)) s"
