#!/usr/bin/env bash
# Build the local base image localhost/debian-python:bookworm (Debian 12 minbase + python3 3.11 + venv +
# CA certificates) with debootstrap, for machines that cannot pull python:3.11-slim-bookworm from a registry.
# Does nothing if the image already exists (FORCE=1 rebuilds). Needs root (debootstrap) and docker or podman.
#   MIRROR   Debian mirror (default: the one apt already uses here, else http://deb.debian.org/debian)
#   BASE_TAG image name (default: localhost/debian-python:bookworm)
set -euo pipefail
BASE_TAG=${BASE_TAG:-localhost/debian-python:bookworm}
ENGINE=${ENGINE:-$(command -v docker || command -v podman || true)}
[[ -n "$ENGINE" ]] || { echo "build-base.sh: neither docker nor podman is installed (apt-get install -y docker.io)" >&2; exit 2; }
if [[ "${FORCE:-0}" != 1 ]] && "$ENGINE" image inspect "$BASE_TAG" >/dev/null 2>&1; then
  echo "build-base.sh: $BASE_TAG already present"; exit 0
fi
command -v debootstrap >/dev/null || { echo "build-base.sh: debootstrap missing (apt-get install -y debootstrap)" >&2; exit 2; }

apt_mirror() {  # first Debian (non-security) mirror that apt uses on this machine
  local m
  m=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
  [[ -n "$m" ]] || m=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
                         | awk '{for(i=2;i<=NF;i++) if($i ~ /^https?:/){print $i; exit}}' | grep -v security | head -n1 || true)
  echo "${m:-http://deb.debian.org/debian}"
}
MIRROR=${MIRROR:-$(apt_mirror)}

work=$(mktemp -d /var/tmp/debian-python.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "build-base.sh: debootstrap bookworm from $MIRROR"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$work/rootfs" "$MIRROR" \
  > "$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
# keep the image small: no apt lists, no package cache, no docs
rm -rf "$work/rootfs"/var/lib/apt/lists/* "$work/rootfs"/var/cache/apt/*.bin "$work/rootfs"/var/cache/apt/archives/*.deb \
       "$work/rootfs"/usr/share/doc/* "$work/rootfs"/usr/share/man/* "$work/rootfs"/usr/share/locale/*
tar -C "$work/rootfs" -c . | "$ENGINE" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  - "$BASE_TAG" >/dev/null
echo "build-base.sh: built $BASE_TAG ($("$ENGINE" image inspect --format '{{.Size}}' "$BASE_TAG" | awk '{printf "%.0f MB", $1/1e6}'))"
