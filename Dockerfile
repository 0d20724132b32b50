# The brandmon image: one image for the operator (`brandmon-operator`, the Helm chart sets
# `command`) and every pipeline worker (the ENTRYPOINT; the operator's pods set only `args`,
# the role). It runs as uid 65532 on a read-only root filesystem with an emptyDir at /tmp.
#
# Base images are pinned by tag. Production builds should pin them by digest as well
# (python:3.11.14-slim-bookworm@sha256:...); digests cannot be resolved on the project's
# machines, which have no Docker. Both stages use the same base: the virtual environment
# links to the builder's interpreter (/usr/local/bin/python3.11), which must exist at run time.
#
#   docker build -t brandmon:0.1.0 --build-arg VERSION=0.1.0 \
#     --build-arg REVISION="$(git rev-parse HEAD)" .

FROM python:3.11.14-slim-bookworm AS builder

# uv is the version the Makefile pins; it installs exactly what uv.lock holds (every wheel
# carries its hash in the lock file). Bytecode is compiled here because nothing can write it
# at run time.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/brandmon
RUN pip install uv==0.13.9

WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --no-install-project --python /usr/local/bin/python3.11
COPY README.md ./
COPY operator ./operator
COPY workers ./workers
COPY devtools ./devtools
# --no-editable: the project goes into site-packages as a wheel, so /src is not needed later.
RUN uv sync --locked --no-dev --no-editable --python /usr/local/bin/python3.11


FROM python:3.11.14-slim-bookworm AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="brandmon" \
      org.opencontainers.image.description="Kubernetes-native brand-reputation monitoring: the brandmon operator and pipeline workers" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/brandmon/brandmon" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.14-slim-bookworm"

# A passwd entry for uid 65532 (the uid the operator's pods run as), so libraries that look
# the user up (getpass, instaloader's config paths) find one; its home is the /tmp emptyDir.
RUN groupadd --system --gid 65532 brandmon \
    && useradd --system --uid 65532 --gid 65532 --home-dir /tmp --no-create-home \
       --shell /usr/sbin/nologin brandmon

# The root filesystem is read-only: no bytecode writes, HOME and temp files under /tmp.
# MALLOC_ARENA_MAX: glibc gives each thread its own malloc arena; the operator's reconcile
# threads fragmented them (bench/operator_scale.py: peak RSS 377 MB with the default, 338 MB
# with 2, for 500 monitors), and the workers are single-threaded anyway.
ENV PATH=/opt/brandmon/bin:$PATH \
    MALLOC_ARENA_MAX=2 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp

# Root-owned and read-only to uid 65532: the code and the model files (alt-profanity-check,
# vaderSentiment) only need to be readable.
COPY --from=builder /opt/brandmon /opt/brandmon

USER 65532:65532
WORKDIR /tmp
EXPOSE 8080 9102
ENTRYPOINT ["brandmon-worker"]
CMD ["--help"]
