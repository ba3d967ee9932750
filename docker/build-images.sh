#!/usr/bin/env bash
# Build the PathReasoner images (`make images`), or push them (`docker/build-images.sh push`, `make push`).
#
#   ENGINE       docker or podman (default: docker if installed, else podman)
#   REGISTRY     image repository prefix        (default: ghcr.io/pathreasoner)
#   TAG          image tag                      (default: the version in pyproject.toml)
#   IMAGES       which images                   (default: "pipeline trainer serving")
#   BASE_IMAGE   base of all three images       (default: localhost/debian-python:bookworm when that image
#                exists, i.e. docker/build-base.sh ran; otherwise each Dockerfile's public default:
#                python:3.11-slim-bookworm, and nvidia/cuda:13.0.2-runtime-ubuntu22.04 for the trainer)
#   TRAINER_BASE_IMAGE  overrides BASE_IMAGE for the trainer only
#   GIT_SHA      the revision label/env         (default: `git rev-parse HEAD`, "-dirty" if the built
#                files have uncommitted changes)
#   PIP_MIRROR_PORT  port on 127.0.0.1 where local (file://) package indexes are served during the build
#                (default 38741)
#   LOG_DIR      full build logs                (default: work/images)
#
# Package sources: pip inside the build uses PyPI. When pip on this machine is configured with local
# indexes (file:// extra-index-url, find-links folders), they are served over HTTP on 127.0.0.1 for the
# duration of the build and passed as build args (builds run with --network host), and the CA bundle that
# PIP_CERT names is copied into the build context (docker/certs/build-ca.crt, git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

ENGINE=${ENGINE:-$(command -v docker || command -v podman || true)}
[[ -n "$ENGINE" ]] || { echo "build-images.sh: neither docker nor podman is installed (apt-get install -y docker.io)" >&2; exit 2; }
REGISTRY=${REGISTRY:-ghcr.io/pathreasoner}
TAG=${TAG:-$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n1)}
IMAGES=${IMAGES:-pipeline trainer serving}
LOCAL_BASE=localhost/debian-python:bookworm
LOG_DIR=${LOG_DIR:-work/images}
PORT=${PIP_MIRROR_PORT:-38741}

if [[ "${1:-build}" == push ]]; then
  for name in $IMAGES; do
    echo "pushing $REGISTRY/$name:$TAG"
    "$ENGINE" push "$REGISTRY/$name:$TAG"
  done
  exit 0
fi
[[ "${1:-build}" == build ]] || { echo "usage: build-images.sh [build|push]" >&2; exit 2; }
"$ENGINE" info >/dev/null 2>&1 || { echo "build-images.sh: $ENGINE does not answer (is the daemon running? DOCKER_HOST=${DOCKER_HOST:-unset})" >&2; exit 2; }

# ---- base image
if [[ -z "${BASE_IMAGE:-}" ]] && "$ENGINE" image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
  BASE_IMAGE=$LOCAL_BASE
fi
base_for() {  # the --build-arg for one image, or nothing (the Dockerfile's public default)
  local base=${BASE_IMAGE:-}
  [[ "$1" == trainer && -n "${TRAINER_BASE_IMAGE:-}" ]] && base=$TRAINER_BASE_IMAGE
  [[ -n "$base" ]] && printf -- '--build-arg\nBASE_IMAGE=%s\n' "$base"
  return 0
}

# ---- git revision
if [[ -z "${GIT_SHA:-}" ]]; then
  GIT_SHA=$(git rev-parse HEAD 2>/dev/null || echo unknown)
  if [[ "$GIT_SHA" != unknown ]] && [[ -n "$(git status --porcelain -- pathreasoner components pipelines pyproject.toml README.md docker 2>/dev/null)" ]]; then
    GIT_SHA="$GIT_SHA-dirty"
  fi
fi

# ---- package sources for pip inside the build
build_args=(--build-arg "GIT_SHA=$GIT_SHA" --build-arg "VERSION=$TAG")
mirror_pid=""
cleanup() { [[ -n "$mirror_pid" ]] && kill "$mirror_pid" 2>/dev/null; return 0; }
trap cleanup EXIT

pip_setting() {  # env var wins over pip's config file, as for pip itself
  local env=$1 key=$2
  if [[ -n "${!env:-}" ]]; then echo "${!env}"; else python3 -m pip config get "global.$key" 2>/dev/null || true; fi
}
mirror_root="/tmp/pathreasoner-pip-mirror-$PORT"
# Rewrites every local index/find-links location to http://127.0.0.1:PORT/<n>/...; prints VAR=value lines.
sources=$(python3 - "$mirror_root" "$PORT" \
  "$(pip_setting PIP_INDEX_URL index-url)" "$(pip_setting PIP_EXTRA_INDEX_URL extra-index-url)" \
  "$(pip_setting PIP_FIND_LINKS find-links)" <<'PY'
import os, sys, tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

root, port, index, extra, links = Path(sys.argv[1]), sys.argv[2], *sys.argv[3:6]
served: dict[str, str] = {}  # local directory -> mirror slot

def local_dir(location: str) -> Path | None:
    if location.startswith("file://"):
        return Path(unquote(urlparse(location).path))
    return Path(location) if location.startswith("/") else None

def remap(location: str, find_links: bool) -> str:
    path = local_dir(location)
    if path is None:
        return location
    # an index's pages link to ../../files/...: serve the index's parent and keep the relative layout
    top, rest = (path, "") if find_links else (path.parent, path.name)
    slot = served.setdefault(str(top), f"s{len(served)}")
    return f"http://127.0.0.1:{port}/{slot}/{rest}".rstrip("/") + ("/" if find_links else "")

out = {
    "PIP_INDEX_URL": " ".join(remap(u, False) for u in index.split()),
    "PIP_EXTRA_INDEX_URL": " ".join(remap(u, False) for u in extra.split()),
    "PIP_FIND_LINKS": " ".join(remap(u, True) for u in links.split()),
}
if served:
    root.mkdir(exist_ok=True)
    for top, slot in served.items():
        link = root / slot
        if not link.is_symlink() or os.readlink(link) != top:
            tmp = Path(tempfile.mktemp(dir=root))
            tmp.symlink_to(top)
            os.replace(tmp, link)
    (root / "mirror-id").write_text(repr(sorted(served.items())) + "\n")
    print(f"MIRROR={root}")
for key, value in out.items():
    if value:
        print(f"{key}={value}")
PY
)
if grep -q '^MIRROR=' <<<"$sources"; then
  probe() { python3 -c "import sys,urllib.request; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$PORT/mirror-id', timeout=2).read().decode())" 2>/dev/null; }
  if answer=$(probe); then
    [[ "$answer" == "$(cat "$mirror_root/mirror-id")" ]] \
      || { echo "build-images.sh: port $PORT on 127.0.0.1 is taken by another server; set PIP_MIRROR_PORT" >&2; exit 2; }
    echo "package mirror: reusing the one already serving on 127.0.0.1:$PORT"
  else
    mkdir -p "$LOG_DIR"
    python3 -m http.server --bind 127.0.0.1 --directory "$mirror_root" "$PORT" >"$LOG_DIR/pip-mirror.log" 2>&1 &
    mirror_pid=$!
    for _ in $(seq 50); do probe >/dev/null && break; sleep 0.2; done
    probe >/dev/null || { echo "build-images.sh: the package mirror on 127.0.0.1:$PORT did not start ($LOG_DIR/pip-mirror.log)" >&2; exit 1; }
    echo "package mirror: local indexes served on 127.0.0.1:$PORT (pid $mirror_pid)"
  fi
fi
while IFS= read -r line; do
  [[ -z "$line" || "$line" == MIRROR=* ]] || build_args+=(--build-arg "$line")
done <<<"$sources"

cert=$(pip_setting PIP_CERT cert)
if [[ -n "$cert" && -f "$cert" ]]; then
  target=docker/certs/build-ca.crt
  if ! cmp -s "$cert" "$target"; then cp "$cert" "$target.tmp" && mv "$target.tmp" "$target"; fi
  build_args+=(--build-arg "PIP_CERT=/opt/pathreasoner/certs/build-ca.crt")
fi

# ---- build
mkdir -p "$LOG_DIR"
echo "engine: $ENGINE   base: ${BASE_IMAGE:-Dockerfile defaults}   revision: $GIT_SHA"
total_start=$SECONDS
for name in $IMAGES; do
  [[ -f "docker/$name.Dockerfile" ]] || { echo "build-images.sh: no docker/$name.Dockerfile" >&2; exit 2; }
  ref="$REGISTRY/$name:$TAG"
  mapfile -t base_arg < <(base_for "$name")
  start=$SECONDS
  if ! DOCKER_BUILDKIT=0 "$ENGINE" build --network host -f "docker/$name.Dockerfile" -t "$ref" \
        "${build_args[@]}" "${base_arg[@]}" . >"$LOG_DIR/build-$name.log" 2>&1; then
    tail -n 40 "$LOG_DIR/build-$name.log" >&2
    echo "build-images.sh: building $ref failed; full log: $LOG_DIR/build-$name.log" >&2
    exit 1
  fi
  cached=$(grep -c 'Using cache' "$LOG_DIR/build-$name.log" || true)
  steps=$(grep -cE '^Step [0-9]+/' "$LOG_DIR/build-$name.log" || true)
  echo "built $ref in $((SECONDS - start)) s ($cached of $steps steps from the layer cache)"
done
# old builds of these images, now untagged: removed with the layers only they used (the cache stays)
"$ENGINE" image prune -f --filter "label=io.pathreasoner.role" >/dev/null 2>&1 || true
echo "all images built in $((SECONDS - total_start)) s"
for name in $IMAGES; do
  "$ENGINE" image ls "$REGISTRY/$name:$TAG" --format "{{.Repository}}:{{.Tag}}  {{.Size}}"
done
