#!/usr/bin/env bash
# Build the local base image without any registry: debootstrap a Debian rootfs from the Debian
# mirror this machine uses, then `docker import` it (see ARCHITECTURE.md section 8).
#
#   docker/base/build-base.sh              # builds claudecloud/base:bookworm unless it exists
#   FORCE=1 docker/base/build-base.sh      # rebuild anyway
#
# Environment:
#   BASE_TAG    image tag                        (default claudecloud/base:bookworm)
#   FORCE       1 = rebuild even if the tag exists
#   SUITE       Debian suite                     (default: this machine's codename, else bookworm)
#   MIRROR      Debian mirror                    (default: from /etc/apt/sources.list*, else
#                                                 http://deb.debian.org/debian)
#   SECURITY_MIRROR                              (default: from sources, else MIRROR + "-security")
#   PACKAGES    extra comma-separated packages added to the default set
#   WORK_DIR    scratch directory for the rootfs (default /var/tmp/claudecloud-base; removed after)
#   CACHE_DIR   debootstrap .deb cache           (default /var/cache/claudecloud-debootstrap)
#   VERIFY      0 = skip the post-build checks   (default 1)
#   SLIM        0 = keep docs/man pages/translations (default 1: dropped now and for later
#               installs through a dpkg path-exclude, as Ubuntu's minimal images do; copyright
#               files are kept)
#
# Needs root and a Docker engine that answers (scripts/docker-engine.sh).
set -euo pipefail

BASE_TAG="${BASE_TAG:-claudecloud/base:bookworm}"
FORCE="${FORCE:-0}"
WORK_DIR="${WORK_DIR:-/var/tmp/claudecloud-base}"
CACHE_DIR="${CACHE_DIR:-/var/cache/claudecloud-debootstrap}"
VERIFY="${VERIFY:-1}"
SLIM="${SLIM:-1}"
DEFAULT_PACKAGES="ca-certificates,tmux,git,curl,procps,python3,python3-venv,iproute2,bash,less,xz-utils"
PACKAGES="${DEFAULT_PACKAGES}${PACKAGES:+,$PACKAGES}"
IMAGE_PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

START=$SECONDS
step() { printf '\n==> [%3ds] %s\n' "$((SECONDS - START))" "$*" >&2; }
say() { printf '    %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap needs it)"
command -v docker >/dev/null 2>&1 || die "docker client not found; run scripts/docker-engine.sh"
docker info >/dev/null 2>&1 || die "Docker engine does not answer; run scripts/docker-engine.sh"

if [ "$FORCE" != "1" ] && docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
    say "$BASE_TAG already exists ($(docker image inspect -f '{{.Id}}' "$BASE_TAG" | cut -c1-19)); FORCE=1 to rebuild."
    exit 0
fi

# --- mirror and suite from this machine's apt configuration -------------------------------------
# First URI (deb822 "URIs:" or one-line "deb URI suite") whose path ends in /debian or
# /debian-security; third-party sources are ignored.
apt_uri() {
    # $1: path suffix regex, e.g. 'debian' or 'debian-security'
    local files=()
    [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
    for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] && files+=("$f")
    done
    [ "${#files[@]}" -gt 0 ] || return 0
    grep -hoE '^[[:space:]]*(URIs:|deb)[[:space:]]+(\[[^]]*\][[:space:]]+)?[a-z]+://[^[:space:]]+' "${files[@]}" 2>/dev/null \
        | grep -oE '[a-z]+://[^[:space:]]+' | sed 's:/*$::' | grep -E "/$1\$" | head -n1 || true
}
if [ -z "${SUITE:-}" ]; then
    SUITE="$( (. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}") || true)"
    SUITE="${SUITE:-bookworm}"
fi
MIRROR="${MIRROR:-$(apt_uri debian)}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${SECURITY_MIRROR:-$(apt_uri debian-security)}"
SECURITY_MIRROR="${SECURITY_MIRROR:-${MIRROR}-security}"
say "tag:      $BASE_TAG"
say "suite:    $SUITE"
say "mirror:   $MIRROR (security: $SECURITY_MIRROR)"
say "packages: $PACKAGES"

# --- debootstrap ---------------------------------------------------------------------------------
if ! command -v debootstrap >/dev/null 2>&1; then
    step "installing debootstrap"
    export DEBIAN_FRONTEND=noninteractive
    policy="$(apt-cache policy debootstrap 2>/dev/null || true)"
    grep -q 'Candidate: [0-9]' <<<"$policy" || apt-get update -q || true
    apt-get install -y -q --no-install-recommends debootstrap >/dev/null || die "cannot install debootstrap"
fi

ROOTFS="$WORK_DIR/rootfs"
cleanup() {
    # Never follow into a half-built rootfs's mounts: debootstrap may leave proc/sys mounted on failure.
    if [ -d "$ROOTFS" ]; then
        for m in proc sys dev/pts dev; do
            mountpoint -q "$ROOTFS/$m" 2>/dev/null && umount -l "$ROOTFS/$m" 2>/dev/null || true
        done
        rm -rf --one-file-system "$WORK_DIR"
    fi
}
trap cleanup EXIT
cleanup
mkdir -p "$ROOTFS" "$CACHE_DIR"

KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
KEYRING_ARGS=()
[ -f "$KEYRING" ] && KEYRING_ARGS=(--keyring="$KEYRING")

step "debootstrap --variant=minbase $SUITE (log: $WORK_DIR/debootstrap.log)"
# Progress: debootstrap's phase lines as they come, and a running count instead of one line per
# package; the full output goes to the log.
debootstrap --variant=minbase --include="$PACKAGES" --cache-dir="$CACHE_DIR" \
        "${KEYRING_ARGS[@]}" "$SUITE" "$ROOTFS" "$MIRROR" 2>&1 \
    | tee "$WORK_DIR/debootstrap.log" \
    | awk '
        /^I: Retrieving / { n++; if (n % 25 == 0) { printf "    I: ... %d packages retrieved\n", n; fflush() } next }
        /^I: (Validating|Extracting|Unpacking|Configuring) [^ ]+( [^ ]+)?$/ && !/ (required|base) / { next }
        /^[IWE]: / { print "    " $0; fflush() }
    ' >&2 || true
[ -x "$ROOTFS/usr/bin/python3" ] && [ -x "$ROOTFS/usr/bin/apt-get" ] \
    || { tail -n 30 "$WORK_DIR/debootstrap.log" >&2; die "debootstrap failed"; }

# --- make it a sane container rootfs -------------------------------------------------------------
step "configuring rootfs"
for m in proc sys dev/pts dev; do
    mountpoint -q "$ROOTFS/$m" 2>/dev/null && umount -l "$ROOTFS/$m" || true
done

# apt sources: the same mirror as this machine (plain HTTP; containers reach it per section 8).
rm -f "$ROOTFS/etc/apt/sources.list"
cat >"$ROOTFS/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

# Like the official Debian images: no services started by package installs, keep apt caches out of
# layers, no translations.
cat >"$ROOTFS/usr/sbin/policy-rc.d" <<'EOF'
#!/bin/sh
exit 101
EOF
chmod 755 "$ROOTFS/usr/sbin/policy-rc.d"
cat >"$ROOTFS/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
echo 'Acquire::Languages "none";' >"$ROOTFS/etc/apt/apt.conf.d/docker-no-languages"

if [ "$SLIM" = "1" ]; then
    mkdir -p "$ROOTFS/etc/dpkg/dpkg.cfg.d"
    cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/docker-minimal" <<'EOF'
# Keep images small: no documentation, man pages or translations (copyright files are kept).
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
EOF
    find "$ROOTFS/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
    find "$ROOTFS/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
    rm -rf "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/usr/share/lintian/*
    find "$ROOTFS/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
fi

# Docker provides these at run time; an empty machine-id is regenerated where needed.
: >"$ROOTFS/etc/machine-id"
rm -f "$ROOTFS/etc/hostname" "$ROOTFS/etc/resolv.conf"
echo "localhost" >"$ROOTFS/etc/hostname"
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/cache/apt/*.bin \
       "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/*.log "$ROOTFS"/var/log/apt/* \
       "$ROOTFS"/tmp/* "$ROOTFS"/var/tmp/* "$ROOTFS"/root/.cache 2>/dev/null || true
mkdir -p "$ROOTFS/var/lib/apt/lists/partial"
say "rootfs size: $(du -sh --one-file-system "$ROOTFS" | cut -f1)"

# --- import --------------------------------------------------------------------------------------
step "docker import -> $BASE_TAG"
CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
tar --numeric-owner --xattrs -C "$ROOTFS" -c . \
    | docker import \
        --change "ENV PATH=$IMAGE_PATH" \
        --change "ENV LANG=C.UTF-8" \
        --change "LABEL org.opencontainers.image.title=claudecloud-base org.opencontainers.image.created=$CREATED io.claudecloud.base.suite=$SUITE io.claudecloud.base.mirror=$MIRROR" \
        --change 'CMD ["bash"]' \
        --message "debootstrap --variant=minbase $SUITE from $MIRROR" \
        - "$BASE_TAG" >/dev/null
say "image: $(docker image inspect -f '{{.Id}}' "$BASE_TAG" | cut -c1-19), size $(docker image inspect -f '{{.Size}}' "$BASE_TAG" | awk '{printf "%.0f MB", $1/1000/1000}')"

# --- verify --------------------------------------------------------------------------------------
if [ "$VERIFY" = "1" ]; then
    step "verifying"
    say "$(docker run --rm "$BASE_TAG" python3 --version)"
    if docker run --rm "$BASE_TAG" sh -c 'apt-get update -qq' >/dev/null 2>&1; then
        say "apt-get update inside the image: ok"
    else
        say "WARNING: apt-get update inside the image failed (is $MIRROR reachable from containers?)"
    fi
fi

step "done: $BASE_TAG built in $((SECONDS - START)) s"
