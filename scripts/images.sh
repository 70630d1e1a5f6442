#!/usr/bin/env bash
# Build spe's three OCI images without a Docker daemon or a registry, save them as OCI
# archives with a CycloneDX SBOM each, then smoke-run them (docs/production.md, "Images").
#
# On a fresh Debian 12 machine, as root: installs podman, buildah, runc, skopeo and
# mmdebstrap; makes a Debian base image with mmdebstrap from the apt mirror this machine is
# configured with; builds the Dockerfiles FROM that base with `buildah bud --pull=never`.
#
# Usage: bash scripts/images.sh            build, save, SBOMs, sizes, smoke runs
#        SPE_IMAGES_SMOKE=0 bash scripts/images.sh   no smoke runs
# Output (and cache: the base is reused by the next run) in $SPE_IMAGES_DIR,
# default /var/tmp/spe-images: <name>.oci.tar, <name>.cdx.json, sizes.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

WORK="${SPE_IMAGES_DIR:-/var/tmp/spe-images}"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)"
BASE=localhost/spe-debian-base:bookworm
IMAGES=(  # name  Dockerfile  context
  "spe              Dockerfile                         ."
  "spe-hub          workspaces/image/hub.Dockerfile    workspaces/image"
  "spe-workspace    workspaces/image/Dockerfile        ."
)
mkdir -p "$WORK"

# --- tools: the container tools, and what the smoke runs start (PostgreSQL, Ceph RGW) -----
missing=()
for pkg in podman buildah runc skopeo mmdebstrap slirp4netns \
    $(grep -v -e '^#' -e '^$' scripts/deps/apt.txt); do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- our own container configuration (nothing of the machine's is changed) -----------------
# runc: crun refuses hybrid cgroup hierarchies. Default ulimits no higher than this
# process's hard limits, or the runtime's setrlimit fails.
nofile=$(ulimit -Hn); nproc=$(ulimit -Hu)
for limit in nofile nproc; do
  value=${!limit}
  if [[ "$value" == unlimited ]] || ((value > 32768)); then value=32768; fi
  printf -v "$limit" '%s' "$value"
done
# Run-time state in /run (cleared at boot, as it must be), apart from any other podman's.
export CONTAINERS_CONF="$WORK/containers.conf" CONTAINERS_STORAGE_CONF="$WORK/storage.conf"
cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
tmp_dir = "/run/spe-images/libpod"
EOF
cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "overlay"
graphroot = "$WORK/storage"
runroot = "/run/spe-images/storage"
EOF

# --- the Debian base, from the apt sources this machine uses --------------------------------
# The first URI of the suites "bookworm" and "bookworm-security" in deb822 .sources files or
# one-line sources.list entries.
apt_uri() {  # suite
  local suite=$1 uri
  uri=$(awk -v suite="$suite" '
    /^URIs:/ {uri=$2} /^Suites:/ {for (i = 2; i <= NF; i++) if ($i == suite) {print uri; exit}}
    /^$/ {uri=""}' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
  if [[ -z "$uri" ]]; then
    uri=$(awk -v suite="$suite" '$1 == "deb" && $0 !~ /\[/ && $3 == suite {print $2; exit}
      $1 == "deb" && $0 ~ /\[/ {for (i = 2; i <= NF; i++) if ($i ~ /\]$/) break;
        if ($(i + 2) == suite) {print $(i + 1); exit}}' \
      /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n1)
  fi
  [[ -n "$uri" ]] || { echo "no apt source for $suite on this machine" >&2; return 1; }
  echo "$uri"
}
if ! podman image exists "$BASE"; then
  if [[ ! -s "$WORK/base.tar" ]]; then
    mirror=$(apt_uri bookworm); security=$(apt_uri bookworm-security)
    echo "base image: mmdebstrap from $mirror and $security"
    mmdebstrap --quiet --variant=minbase --format=tar bookworm "$WORK/base.tar.part" \
      "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
      "deb $security bookworm-security main"
    mv "$WORK/base.tar.part" "$WORK/base.tar"
  fi
  podman import --quiet --change 'CMD ["/bin/bash"]' "$WORK/base.tar" "$BASE" >/dev/null
fi
echo "base image ready ($((SECONDS - started)) s)"

# --- build, save, describe -----------------------------------------------------------------
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt  # pip's trust in the build, as a secret only
# --network host: RUN steps use the host's network as they are (no bridge, no NAT rules
# left behind); the Dockerfiles are ours, and nothing they run listens.
build_args=(--pull=never --layers --quiet --network host --build-arg "BASE_IMAGE=$BASE")
[[ -s "$CA_BUNDLE" ]] && build_args+=(--secret "id=hostca,src=$CA_BUNDLE")

source scripts/python-env.sh
# spe with its test extras (the smoke runs use the suite's servers), unless test.sh did it
"$PY" -c 'import spe, pytest, httpx' 2>/dev/null \
  || "$PY" -m pip install -q --disable-pip-version-check -e '.[test]'
"$PY" -m pip install -q --disable-pip-version-check \
  'cyclonedx-python-lib[json-validation]>=11.12,<12'

: >"$WORK/sizes.txt"
# The three builds run side by side (their downloads overlap); each logs to <name>.build.log.
pids=()
for entry in "${IMAGES[@]}"; do
  read -r name dockerfile context <<<"$entry"
  buildah bud "${build_args[@]}" -t "localhost/$name:$VERSION" -f "$dockerfile" "$context" \
    >"$WORK/$name.build.log" 2>&1 &
  pids+=("$!")
done
failed=0
for i in "${!IMAGES[@]}"; do
  read -r name _ <<<"${IMAGES[$i]}"
  if ! wait "${pids[$i]}"; then
    echo "building $name failed:" >&2; tail -n 40 "$WORK/$name.build.log" >&2; failed=1
  fi
done
((failed == 0)) || exit 1
echo "images built ($((SECONDS - started)) s)"

for entry in "${IMAGES[@]}"; do
  read -r name dockerfile context <<<"$entry"
  ref="localhost/$name:$VERSION"
  t0=$SECONDS
  rm -f "$WORK/$name.oci.tar"
  buildah push --quiet "$ref" "oci-archive:$WORK/$name.oci.tar:$ref"
  skopeo inspect "oci-archive:$WORK/$name.oci.tar" >/dev/null
  root=$(podman image mount "$ref")
  sbom=0; "$PY" scripts/sbom.py "$root" "$name" "$VERSION" >"$WORK/$name.cdx.json" || sbom=$?
  podman image unmount "$ref" >/dev/null
  ((sbom == 0)) || { echo "no SBOM for $name" >&2; exit 1; }
  size=$(podman image inspect --format '{{.Size}}' "$ref")
  printf '%-14s %6d MB  %s  saved and described in %d s\n' "$name" $((size / 1000000)) \
    "$ref" $((SECONDS - t0)) | tee -a "$WORK/sizes.txt"
done
echo "images built and saved in $WORK ($((SECONDS - started)) s)"

# --- smoke runs ----------------------------------------------------------------------------
if [[ "${SPE_IMAGES_SMOKE:-1}" != 0 ]]; then
  "$PY" -m tests.images.smoke --version "$VERSION"
fi
echo "scripts/images.sh done in $((SECONDS - started)) s"
