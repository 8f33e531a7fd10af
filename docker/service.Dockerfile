# One image for every ClaudeCloud service (gateway, provisioner, billing, activity, netbird, audit,
# webhooks); the
# command chooses which: `python -m gateway`, `python -m provisioner`, ... Build it with
# `make service-image` (docker/service/build.sh), which first puts into the build context what the
# build cannot download itself (no HTTPS from inside a build here):
#   wheels/            the services' wheels and their pinned dependencies (uv.lock, no dev group),
#                      what `uv sync --package <service> --no-dev` installs, for all of them at once
#   requirements.txt   those pins (`uv export --no-dev --package ...`)
#   tools/             the optional stack helpers (mail catcher, OTLP span printer)
#   web/               the dashboard's static export, when `make web` built it (else empty)
# Nothing secret is in the image: every secret comes from the environment at run time.
ARG BASE_IMAGE=claudecloud/base:bookworm
FROM ${BASE_IMAGE}

ARG SOURCE_HASH=unknown
ARG PACKAGES="claudecloud-common claudecloud-agentapi claudecloud-gateway claudecloud-provisioner claudecloud-billing claudecloud-activity claudecloud-netbird claudecloud-audit claudecloud-webhooks"

# A system user of its own; its home holds DATA_DIR (only used outside production).
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/claudecloud \
        --shell /usr/sbin/nologin claudecloud

# Dependencies first (they change less often than our code), then our packages, offline.
COPY requirements.txt /opt/claudecloud/build/
COPY wheels/ /opt/claudecloud/build/wheels/
RUN python3 -m venv /opt/claudecloud/venv \
    && /opt/claudecloud/venv/bin/pip install --quiet --no-index --no-cache-dir \
        --disable-pip-version-check --find-links /opt/claudecloud/build/wheels \
        -r /opt/claudecloud/build/requirements.txt \
    && /opt/claudecloud/venv/bin/pip install --quiet --no-index --no-cache-dir --no-deps \
        --disable-pip-version-check --find-links /opt/claudecloud/build/wheels ${PACKAGES} \
    && /opt/claudecloud/venv/bin/pip check \
    && rm -rf /opt/claudecloud/build

COPY tools/ /opt/claudecloud/tools/
COPY web/ /opt/claudecloud/web/

LABEL io.claudecloud.image=service io.claudecloud.source-hash=${SOURCE_HASH} \
      org.opencontainers.image.title=claudecloud-service
ENV PATH=/opt/claudecloud/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 LANG=C.UTF-8 \
    ENVIRONMENT=production HTTP_HOST=0.0.0.0 DATA_DIR=/var/lib/claudecloud \
    LOG_FORMAT=json GATEWAY_WEB_DIR=/opt/claudecloud/web
USER claudecloud
WORKDIR /var/lib/claudecloud
CMD ["python", "-m", "gateway"]
