#!/usr/bin/env bash
# Build the wirestream image with podman and prove it works (make image / make image-test).
#
#   deploy/image-test.sh build   base image (cached), wheelhouse, image; print its size
#   deploy/image-test.sh test    the same, then run it with the host network against the
#                                embedded broker on this host: topics, keys, first model,
#                                a worker that classifies published stories; /metrics,
#                                /ready and the image's HEALTHCHECK answer; SIGTERM exits 0
#
# No registry image is pulled: the base is Debian bookworm made with debootstrap from
# the host's Debian mirror (BASE_IMAGE=... to use another), and the build installs
# the project from a wheelhouse made here with `pip wheel` (no index inside the build).
# Needs root (podman, debootstrap); installs podman, runc and debootstrap with apt
# when they are missing. Knobs: IMAGE, BASE_IMAGE, STORIES, VENV, KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-test}
VENV=${VENV:-.venv}
IMAGE=${IMAGE:-localhost/wirestream}
BASE_IMAGE=${BASE_IMAGE:-localhost/wirestream-base:bookworm}
STORIES=${STORIES:-200}
VERSION=$("$VENV/bin/python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
TAG="$IMAGE:$VERSION"
# crun (podman's default) fails on this kind of machine's hybrid cgroups; runc works.
PODMAN=(podman --runtime runc --cgroup-manager=cgroupfs)
# podman raises RLIMIT_NOFILE/NPROC for root-run containers, which this sandbox refuses
# ("error setting rlimit ... operation not permitted"); lower limits are allowed.
ULIMITS=(--ulimit nofile=16384:16384 --ulimit nproc=8192:8192)
T0=$SECONDS
step() { printf '\n== [%3ds] %s\n' $((SECONDS - T0)) "$*"; }
die() { echo "image-test: FAILED: $*" >&2; exit 1; }

ensure_tools() {
  local missing=()
  for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  if ((${#missing[@]})); then
    step "installing ${missing[*]} (apt)"
    [ "$(id -u)" = 0 ] || die "run as root or install: apt-get install ${missing[*]}"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  fi
}

# The host's Debian mirror (deb822 sources or the classic list), for debootstrap and apt in the build.
mirror() {
  local kind=$1 url
  url=$(grep -hs -A2 "^Types: deb" /etc/apt/sources.list.d/*.sources | awk '/^URIs:/ {print $2}' | grep -E -- "/$kind/?$" | head -1 || true)
  [ -n "$url" ] || url=$(awk '$1 == "deb" {print $2}' /etc/apt/sources.list 2>/dev/null | grep -E -- "/$kind/?$" | head -1 || true)
  echo "${url:-http://deb.debian.org/$kind}"
}

build_base() {
  if "${PODMAN[@]}" image exists "$BASE_IMAGE"; then
    step "base image $BASE_IMAGE: cached"
    return
  fi
  local rootfs main security
  main=$(mirror debian)
  security=$(mirror debian-security)
  step "base image $BASE_IMAGE: debootstrap --variant=minbase bookworm from $main"
  rootfs=$(mktemp -d /var/tmp/wirestream-rootfs.XXXXXX)
  debootstrap --variant=minbase bookworm "$rootfs" "$main" >"$rootfs.log" 2>&1 ||
    { tail -20 "$rootfs.log"; die "debootstrap"; }
  cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $main bookworm main
deb $main bookworm-updates main
deb $security bookworm-security main
EOF
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | "${PODMAN[@]}" import --quiet --message "debootstrap minbase bookworm" - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs" "$rootfs.log"
}

build_wheelhouse() {
  step "wheelhouse: pip wheel . (the project and every dependency) into build/wheelhouse"
  rm -rf build/wheelhouse
  mkdir -p build
  # a fixed timestamp makes the project's wheel byte-identical while its files are,
  # so podman's layer cache skips the install step on a rebuild
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 315532800) \
    "$VENV/bin/pip" wheel --wheel-dir build/wheelhouse . >build/wheelhouse.log 2>&1 ||
    { tail -30 build/wheelhouse.log; die "pip wheel (log: build/wheelhouse.log)"; }
  ls build/wheelhouse/wirestream-"$VERSION"-*.whl >/dev/null || die "no wirestream wheel was built"
  echo "$(find build/wheelhouse -name '*.whl' | wc -l) wheels, $(du -sh build/wheelhouse | cut -f1)"
}

build_image() {
  step "podman build $TAG (BASE=$BASE_IMAGE)"
  local started=$SECONDS
  "${PODMAN[@]}" build --quiet --format docker --network=host \
    --build-arg BASE="$BASE_IMAGE" --build-arg VERSION="$VERSION" \
    --build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
    --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    -t "$TAG" -f Dockerfile . 2> >(grep -v '^debconf: delaying' >&2) >/dev/null
  IMAGE_MB=$(("$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$TAG")" / 1000000))
  echo "built $TAG in $((SECONDS - started))s: ${IMAGE_MB} MB"
}

free_port() { "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

http_get() {  # URL -> prints "STATUS BODY" (status 000 when nothing answers)
  "$VENV/bin/python" - "$1" <<'EOF'
import sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=3) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
except OSError:
    print("000")
EOF
}

run_test() {
  local bport mport
  bport=$(free_port)
  mport=$(free_port)
  data=$(mktemp -d /var/tmp/wirestream-image-test.XXXXXX)
  chown 10001:10001 "$data"  # the image's user owns its data directory
  worker="wirestream-image-test-$$"
  cleanup() {
    "${PODMAN[@]}" rm --force --time 5 "$worker" >/dev/null 2>&1 || true
    [ -n "${broker_pid:-}" ] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null
    [ "${KEEP:-0}" = 1 ] && echo "kept $data" || rm -rf "$data"
  }
  trap cleanup EXIT
  # --network=host: the container reaches the broker on 127.0.0.1 and serves metrics there.
  run() {
    "${PODMAN[@]}" run --rm "${ULIMITS[@]}" --no-healthcheck --network=host -v "$data:/var/lib/wirestream" \
      -e WIRESTREAM_BROKER="127.0.0.1:$bport" \
      -e WIRESTREAM_MODEL_PUBLIC_KEYS=/var/lib/wirestream/keys/model.pub "$@"
  }

  step "embedded broker (Tansu) on the host, port $bport"
  "$VENV/bin/wirestream" broker --port "$bport" >"$data/broker.log" 2>&1 &
  broker_pid=$!
  for _ in $(seq 1 120); do grep -q "broker ready" "$data/broker.log" && break; sleep 0.5; done
  grep -q "broker ready" "$data/broker.log" || { cat "$data/broker.log"; die "broker did not start"; }

  step "container: whoami, packaged files (issue 13 point 6)"
  run --entrypoint sh "$TAG" -c 'echo "uid $(id -u) gid $(id -g), WIRESTREAM_DATA_DIR=$WIRESTREAM_DATA_DIR"'
  local corpus
  corpus=$(run --entrypoint python3 "$TAG" -c 'from wirestream import settings as s; print(s.DEFAULT_CORPUS)')
  run --entrypoint python3 "$TAG" -c 'from wirestream import settings as s
now = s.Settings.from_env()
print(f"  IN_CHECKOUT           {s.IN_CHECKOUT}")
for name, value in [("data_dir", now.data_dir), ("registry", now.registry), ("label_store", now.label_store_path),
                    ("DEFAULT_CORPUS", s.DEFAULT_CORPUS), ("DEFAULT_WIRE_HELDOUT", s.DEFAULT_WIRE_HELDOUT),
                    ("alert_rules", now.alert_rules)]:
    print(f"  {name:<21} {value}" + ("" if value.is_absolute() else "  (RELATIVE)"))'
  run "$TAG" data check "$corpus" | tail -1

  step "container: wirestream topics create"
  run "$TAG" topics create | tr -s ' ' | paste -sd ',' -
  step "container: wirestream keys generate + train --promote (signed first model into the registry)"
  run "$TAG" keys generate --out /var/lib/wirestream/keys/model | sed -n 1p
  local started=$SECONDS
  run -e WIRESTREAM_MODEL_SIGNING_KEY=/var/lib/wirestream/keys/model.pem "$TAG" train --promote 2>&1 | tail -3
  echo "trained in $((SECONDS - started))s"

  step "container: wirestream worker, read-only root filesystem (metrics on 127.0.0.1:$mport)"
  # (no systemd here, so podman cannot time the HEALTHCHECK: it is run by hand below)
  "${PODMAN[@]}" run -d "${ULIMITS[@]}" --read-only --name "$worker" --network=host \
    -v "$data:/var/lib/wirestream" \
    -e WIRESTREAM_BROKER="127.0.0.1:$bport" -e WIRESTREAM_METRICS_PORT="$mport" \
    -e WIRESTREAM_MODEL_PUBLIC_KEYS=/var/lib/wirestream/keys/model.pub "$TAG" worker \
    2> >(grep -v systemd >&2) >/dev/null
  started=$SECONDS
  local ready=""
  while ((SECONDS - started < 180)); do
    ready=$(http_get "http://127.0.0.1:$mport/ready")
    [[ $ready == 200* ]] && break
    [ "$("${PODMAN[@]}" inspect --format '{{.State.Running}}' "$worker")" = true ] ||
      { "${PODMAN[@]}" logs "$worker" | tail -30; die "the worker exited"; }
    sleep 1
  done
  [[ $ready == 200* ]] || { "${PODMAN[@]}" logs "$worker" | tail -30; die "worker not ready after 180s: $ready"; }
  echo "ready after $((SECONDS - started))s: ${ready#200 }"
  "${PODMAN[@]}" healthcheck run "$worker" 2> >(grep -v systemd >&2) && echo "HEALTHCHECK: healthy" ||
    die "HEALTHCHECK failed"

  step "publish $STORIES held-out stories (from the image's packaged corpus) to wire.stories"
  run -i --entrypoint python3 "$TAG" - "$STORIES" >"$data/stories.jsonl" <<'EOF'
import json, sys
from wirestream.settings import DEFAULT_CORPUS
from wirestream.training.corpus import load_corpus
from wirestream.training.split import is_held_out
stories = [s for s in load_corpus([DEFAULT_CORPUS]) if is_held_out(s.id)][: int(sys.argv[1])]
for s in stories:
    print(json.dumps({"id": f"it-{s.id}", "headline": s.headline, "body": s.body, "source": "image-test"}, ensure_ascii=False))
EOF
  local want
  want=$(wc -l <"$data/stories.jsonl")
  started=$SECONDS
  run -i "$TAG" publish - <"$data/stories.jsonl"
  local got
  got=$(run "$TAG" tail wire.classified --json --from-beginning --max "$want" --idle-timeout 60 | wc -l)
  echo "wire.classified: $got of $want stories classified in $((SECONDS - started))s"
  [ "$got" -eq "$want" ] || { "${PODMAN[@]}" logs "$worker" | tail -30; die "only $got of $want classified"; }

  step "worker metrics endpoint"
  local metrics
  metrics=$(http_get "http://127.0.0.1:$mport/metrics")
  [[ $metrics == 200* ]] || die "/metrics answered ${metrics:0:80}"
  grep -E '^wirestream_(stories_classified_total|stories_consumed_total|model_info)' <<<"${metrics#200 }" | sed -n 1,5p
  "${PODMAN[@]}" stats --no-stream --format 'worker memory: {{.MemUsage}}' "$worker" 2>/dev/null || true

  step "SIGTERM: the worker finishes its batch, commits and exits"
  started=$SECONDS
  "${PODMAN[@]}" stop --time 60 "$worker" 2> >(grep -v systemd >&2) >/dev/null
  local code
  code=$("${PODMAN[@]}" inspect --format '{{.State.ExitCode}}' "$worker")
  echo "stopped in $((SECONDS - started))s, exit code $code"
  [ "$code" = 0 ] || { "${PODMAN[@]}" logs "$worker" | tail -30; die "worker exit code $code after SIGTERM"; }
}

ensure_tools
build_base
build_wheelhouse
build_image
if [ "$MODE" = test ]; then
  run_test
  step "image-test passed: $TAG, ${IMAGE_MB} MB, $((SECONDS - T0))s in all"
else
  step "image built: $TAG, ${IMAGE_MB} MB, $((SECONDS - T0))s in all"
fi
