# The Layers mock as a container (docs/guides/container.md):
#   docker build -t layers-mock .
#   docker run -p 4010:4010 layers-mock                                   # the API on the host's port 4010
#   docker run -p 4010:4010 -e LAYERS_MOCK_ADMIN_TOKEN=change-me layers-mock   # and the control plane
# The one container file: podman and buildah read a Dockerfile too, and CI builds this file with
# podman (tests/container/: `podman build -f Dockerfile --build-arg BASE=...`).
#
# BASE: any image with python3 3.11 (what the package supports: pyproject's requires-python) and
# its venv module. Where no registry is reachable the tests pass a Debian bookworm base made with
# mmdebstrap (scripts/setup-containers.sh).
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
COPY . /src
# Wheels from /src/wheelhouse when the build cannot reach PyPI (`pip wheel -w wheelhouse
# -c constraints.txt .` on a host with the image's Python version); otherwise from the index,
# pinned by constraints.txt. Only the base install: the mock, no conformance kit, no docs tooling.
RUN python3 -m venv /opt/layers \
 && if ls /src/wheelhouse/*.whl >/dev/null 2>&1; then \
      /opt/layers/bin/pip install --no-cache-dir --no-index --find-links /src/wheelhouse layers-contract-kit; \
    else \
      /opt/layers/bin/pip install --no-cache-dir -c /src/constraints.txt /src; \
    fi

FROM ${BASE}
COPY --from=build /opt/layers /opt/layers
# A fixed non-root uid, also when the base image has no useradd.
RUN (useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin layers 2>/dev/null \
     || echo 'layers:x:10001:10001::/nonexistent:/usr/sbin/nologin' >> /etc/passwd)
USER 10001:10001
ENV PATH=/opt/layers/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
EXPOSE 4010
# Bound to all interfaces inside the container: a published port arrives from outside loopback,
# so the control plane (/_mock) answers only with an admin token (LAYERS_MOCK_ADMIN_TOKEN or
# --admin-token); the API needs none.
ENTRYPOINT ["layers-mock", "--host", "0.0.0.0"]
CMD ["--port", "4010"]
# The mock writes its ready file once it answers (README: "Machine-readable start"); the health
# check asks the address written there, so it follows the port whatever arguments the container
# gets (`--port 5000`), and it fails until the mock is ready. python, not curl: the slim image
# has no curl. /_mock/ready needs no token (also with --admin-token) and fails (503) while the
# database does not answer or holds another schema version.
ENV LAYERS_MOCK_READY_FILE=/tmp/layers-mock-ready.json
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python3", "-c", "import json, os, urllib.request; ready = json.load(open(os.environ['LAYERS_MOCK_READY_FILE'])); urllib.request.urlopen(ready['controlUrl'] + '/ready', timeout=2)"]
