#!/usr/bin/env bash
# Builds a Debian bookworm base image from Debian's packages, for machines that cannot pull images
# (docs/deploy.md, "Without Docker Hub"): debootstrap's minbase variant (the required packages and apt)
# plus ca-certificates, so that the image build can reach the npm registry over TLS, imported with
# `docker import`. It has no Node: the Dockerfile's build stage then fetches the Node 24 binary of the
# `node` npm package. Does nothing when the image exists already.
#
#   sudo scripts/deploy/base-image.sh                 # tsbroker-base:bookworm
#   sudo scripts/deploy/base-image.sh my-base:tag     # another name
#   DEBIAN_MIRROR=http://mirror.example/debian sudo scripts/deploy/base-image.sh
#
# Then: docker build --build-arg BASE_IMAGE=tsbroker-base:bookworm -t tsbroker .
set -euo pipefail

image=${1:-tsbroker-base:bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "base image $image exists: kept (docker rmi $image to build it again)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "base-image.sh: debootstrap needs root" >&2
  exit 1
fi
if ! command -v debootstrap >/dev/null; then
  echo "base-image.sh: debootstrap is missing: apt-get install debootstrap" >&2
  exit 1
fi

rootfs=$(mktemp -d /var/tmp/tsbroker-base.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

echo "debootstrap --variant=minbase bookworm from $mirror into $rootfs"
debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$mirror"

# The same suites as Debian's own images: the release, its updates and its security fixes.
cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security_mirror bookworm-security main
EOF
# The certificate authorities this host added to its own store (/usr/local/share/ca-certificates),
# e.g. a TLS-intercepting egress proxy's, as on the machine this project is built on: without them the
# build could not reach the npm registry. Only public CA certificates are copied; LOCAL_CA_DIR= (empty)
# leaves them out.
local_ca_dir=${LOCAL_CA_DIR-/usr/local/share/ca-certificates}
if [ -n "$local_ca_dir" ] && compgen -G "$local_ca_dir/*.crt" >/dev/null; then
  echo "adding the host's local CA certificates: $(cd "$local_ca_dir" && echo *.crt)"
  cp "$local_ca_dir"/*.crt "$rootfs/usr/local/share/ca-certificates/"
  chroot "$rootfs" update-ca-certificates
fi
# What debootstrap leaves that an image does not need: downloaded packages, package lists (a build
# that installs something runs apt-get update first), logs.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
  "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* "$rootfs"/tmp/*

tar --numeric-owner -C "$rootfs" -c . |
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' \
    --message "debootstrap --variant=minbase --include=ca-certificates bookworm $mirror" \
    - "$image"
docker image ls "$image"
