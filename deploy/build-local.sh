#!/usr/bin/env bash
# Build the sandbox image where no registry can be reached, and run the demo in a container.
#
# 1. debootstrap a minimal Debian root filesystem with python3 and venv (from the Debian mirror),
# 2. `docker import` it as the base image (sandbox-base:local),
# 3. build deploy/Dockerfile on it (pip needs PyPI: the build uses the host's network),
# 4. run `sandbox demo` inside a container of the result, as its non-root user.
#
# Needs root, debootstrap and a running Docker engine; on a fresh Debian machine:
#   apt-get install -y debootstrap docker.io
#   dockerd --storage-driver=vfs --iptables=false --bridge=none &
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SUITE="${SUITE:-bookworm}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
BASE_TAG="${BASE_TAG:-sandbox-base:local}"
IMAGE_TAG="${IMAGE_TAG:-data-sandbox:local}"
DEMO_ROWS="${DEMO_ROWS:-2000}"
HOST_CA="${HOST_CA:-/etc/ssl/certs/ca-certificates.crt}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

if ! docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
  echo "== debootstrap $SUITE into $WORK/rootfs"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$WORK/rootfs" "$MIRROR"
  rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*
  # The base trusts what this host trusts (a site's own CA in front of PyPI, for instance).
  if [ -f "$HOST_CA" ]; then cp "$HOST_CA" "$WORK/rootfs/etc/ssl/certs/ca-certificates.crt"; fi
  echo "== import as $BASE_TAG"
  tar -C "$WORK/rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' - "$BASE_TAG"
fi

echo "== build $IMAGE_TAG on $BASE_TAG"
docker build --network host --build-arg "BASE_IMAGE=$BASE_TAG" -f "$ROOT/deploy/Dockerfile" \
  -t "$IMAGE_TAG" "$ROOT"

echo "== run the demo in a container (no network)"
docker run --rm --network none --read-only --tmpfs /tmp --tmpfs /var/lib/sandbox:uid=10001,gid=10001 \
  --cap-drop ALL --security-opt no-new-privileges "$IMAGE_TAG" demo --rows "$DEMO_ROWS"
echo "== demo ran in $IMAGE_TAG"
