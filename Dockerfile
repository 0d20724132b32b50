# The brandmon image: one image for the operator (`brandmon-operator`, the Helm chart sets
# `command`) and every pipeline worker (the ENTRYPOINT; the operator's pods set only `args`,
# the role). It runs as uid 65532 on a read-only root filesystem with an emptyDir at /tmp.
#
# Base images are pinned by tag. Production builds should pin them by digest as well
# (python:3.11.14-slim-bookworm@sha256:...). Both stages use the same base: the virtual
# environment links to the builder's interpreter (/usr/local/bin/python3.11), which must
# exist at run time. BASE_IMAGE names another base with that interpreter, and RUNTIME_IMAGE
# (default: the same) the final stage's base, which needs no pip: `make image` passes two
# made together from Debian packages (no registry is reachable on the project's machines).
#
#   docker build -t brandmon:0.1.0 --build-arg VERSION=0.1.0 \
#     --build-arg REVISION="$(git rev-parse HEAD)" .
#
# Dependencies come from PyPI, as uv.lock pins them, unless wheelhouse/ holds
# requirements.txt: then they come from there with no index, so the build needs no network
# (`make image` fills it outside the build: docs/containers.md).

ARG BASE_IMAGE=python:3.11.14-slim-bookworm
ARG RUNTIME_IMAGE=${BASE_IMAGE}

FROM ${BASE_IMAGE} AS builder

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
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lock file or the wheelhouse changes.
# The wheelhouse's requirements.txt is uv.lock's runtime set with every hash (uv export);
# pip checks each wheel against it. Bytecode is written after the install (see below).
COPY pyproject.toml uv.lock ./
COPY wheelhouse/ /wheelhouse/
RUN if [ -f /wheelhouse/requirements.txt ]; then \
        /usr/local/bin/python3.11 -m venv --without-pip /opt/brandmon \
        && python3 -m pip --python /opt/brandmon/bin/python install --no-index \
           --find-links /wheelhouse --no-deps --no-compile --require-hashes \
           --requirement /wheelhouse/requirements.txt; \
    else \
        pip install uv==0.13.9 \
        && uv sync --locked --no-dev --no-install-project --python /usr/local/bin/python3.11; \
    fi
COPY README.md ./
COPY operator ./operator
COPY workers ./workers
COPY devtools ./devtools
# The project goes into site-packages as a wheel (not editable), so /src is not needed later;
# its build backend comes from the wheelhouse too. Then what no process of the image uses
# goes: kubernetes' asyncio client (nothing imports kubernetes.aio; 68 MB with bytecode),
# the test suites of numpy, scipy and scikit-learn and scikit-learn's sample datasets
# (read only by its load_* functions), botocore's models of AWS services other than the
# two brandmon calls (S3, Rekognition) and those its credential providers call, and C
# headers, Cython and stub files. Then bytecode for what the processes import
# (brandmon_devtools.containers.bytecode says why not all of it); last the development
# tooling itself, which no pod runs.
RUN if [ -f /wheelhouse/requirements.txt ]; then \
        python3 -m pip --python /opt/brandmon/bin/python install --no-index \
           --find-links /wheelhouse --no-deps --no-compile /src; \
    else \
        uv sync --locked --no-dev --no-editable --python /usr/local/bin/python3.11; \
    fi \
    && site=/opt/brandmon/lib/python3.11/site-packages \
    && rm -rf "$site/kubernetes/aio" \
    && find "$site/numpy" "$site/scipy" "$site/sklearn" -type d -name tests -prune \
       -exec rm -rf {} + \
    && rm -rf "$site/sklearn/datasets/images" "$site/sklearn/datasets/data" \
       "$site/sklearn/datasets/descr" \
    && find "$site/botocore/data" -mindepth 1 -maxdepth 1 -type d ! -name s3 \
       ! -name rekognition ! -name sts ! -name sso ! -name sso-oidc ! -name signin \
       -exec rm -rf {} + \
    && find "$site" -type f \( -name "*.pyi" -o -name "*.pxd" -o -name "*.pyx" \
       -o -name "*.h" -o -name "*.c" -o -name "*.cpp" \) -delete \
    && /opt/brandmon/bin/python -m brandmon_devtools.containers.bytecode "$site" \
    && rm -rf "$site/brandmon_devtools" /opt/brandmon/bin/brandmon-platform


FROM ${RUNTIME_IMAGE} AS runtime

ARG RUNTIME_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="brandmon" \
      org.opencontainers.image.description="Kubernetes-native brand-reputation monitoring: the brandmon operator and pipeline workers" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/brandmon/brandmon" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}"

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
