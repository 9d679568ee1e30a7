#!/usr/bin/env bash
# `make fresh-check`: the current commit on a bare python:3.11-slim, as a new user would try it.
#
# Clones HEAD (committed work only) into a fresh python:3.11-slim container on the host network, installs make
# (the one thing the image lacks that the README asks for), runs `make run` and waits for /health/ready and one
# prediction, stops it, then runs `make test` inside the container on the smoke subset (`-m smoke`: one test of each
# part, through the same install steps as the whole suite; CI runs the whole suite once, on the machine itself), and
# `make docs`. Exit status: that of `make test` (or `make docs`), or 1 when the server never became ready.
#
# Environment (all optional):
#   DOCKER_TOOLS       folder with ensure-docker.sh and make-base-image.sh (the Makefile finds ../shared/docker)
#   FRESH_IMAGE        image to start from (default python:3.11-slim)
#   FRESH_PIP_CACHE    host folder mounted as the container's pip cache, so wheels that this machine already
#                      downloaded are not downloaded again (default: pip's cache of the user running this,
#                      ~/.cache/pip; set it empty for a cold cache). Only downloads are reused: the container
#                      still builds its own venv and installs every package itself.
#   FRESH_READY_TIMEOUT  seconds `make run` may take to become ready, installs included (default 900)
#   PYTEST_ARGS        passed to `make test` (default: -m smoke; set it empty for the whole suite)
set -Eeuo pipefail

root="$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)"
commit="$(git -C "$root" rev-parse HEAD)"
tools="${DOCKER_TOOLS:?set DOCKER_TOOLS to the folder with ensure-docker.sh and make-base-image.sh}"
image="${FRESH_IMAGE:-python:3.11-slim}"
pip_cache="${FRESH_PIP_CACHE-${XDG_CACHE_HOME:-$HOME/.cache}/pip}"
ready_timeout="${FRESH_READY_TIMEOUT:-900}"
name="sigmoid-serve-fresh-$$"
started=$SECONDS

say() { printf '[fresh-check %(%H:%M:%S)T +%ss] %s\n' -1 "$((SECONDS - started))" "$*" >&2; }
inside() { docker exec "$name" "$@"; }

bash "$tools/ensure-docker.sh"
bash "$tools/make-base-image.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/sigmoid-serve-fresh.XXXXXX")"
cleanup() {
  docker rm -f "$name" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
git clone --quiet --no-local "$root" "$work/src"
git -C "$work/src" checkout --quiet --detach "$commit"
say "cloned $commit"

mounts=(-v "$work/src:/src")
if [ -n "$pip_cache" ]; then
  mkdir -p "$pip_cache"
  mounts+=(-v "$pip_cache:/root/.cache/pip")
  say "pip cache: $pip_cache"
fi
# The venv (TensorFlow and the rest, about 2 GB of small files) lives in memory: deleting it from the clone on disk
# took longer than the smoke tests.
docker run -d --name "$name" --network host -w /src "${mounts[@]}" --tmpfs /src/.venv:rw,exec,size=8g "$image" \
  sleep infinity >/dev/null
inside sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends make' \
  >/dev/null
say "make installed in a bare $image"

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# A session of its own, so that stopping it stops make and the server under it.
inside setsid --wait sh -c "echo \$\$ > /tmp/run.pid; exec make run PORT=$port > /tmp/run.log 2>&1" &
runner=$!
ready=0
deadline=$((SECONDS + ready_timeout))
while [ "$SECONDS" -lt "$deadline" ]; do
  if python3 - "$port" <<'EOF'; then ready=1; break; fi
import sys, urllib.request
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health/ready", timeout=2)
except OSError:
    sys.exit(1)
EOF
  if ! kill -0 "$runner" 2>/dev/null; then break; fi
  sleep 1
done
if [ "$ready" != 1 ]; then
  say "make run did not become ready within ${ready_timeout}s; its output:"
  inside cat /tmp/run.log >&2 || true
  exit 1
fi
say "make run is ready on port $port"
python3 - "$port" "$work/src/models/digits/examples.json" <<'EOF'
import json, sys, urllib.request
port, examples = sys.argv[1], sys.argv[2]
body = json.dumps({"instances": json.load(open(examples))["instances"][:1]}).encode()
request = urllib.request.Request(f"http://127.0.0.1:{port}/predict", body, {"Content-Type": "application/json"})
with urllib.request.urlopen(request, timeout=10) as response:
    answer = json.load(response)
print(f"[fresh-check] POST /predict -> {answer['predictions'][0]['labels']}", file=sys.stderr)
EOF
inside sh -c 'kill -TERM "-$(cat /tmp/run.pid)"'
wait "$runner" || true
say "make run stopped; running make test"

inside make test PYTEST_ARGS="${PYTEST_ARGS--m smoke}"
say "make test passed in a bare $image"
inside make docs
say "make docs passed in a bare $image"
