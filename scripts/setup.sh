#!/usr/bin/env bash
# Prepares a fresh Debian/Ubuntu machine for porchlight. Idempotent: re-running skips what is there.
#   scripts/setup.sh          what the bridge needs: ffmpeg, Node.js >= 22.18, npm packages
#   scripts/setup.sh --test   also what the tests need: GStreamer RTSP server, Chromium, aiortc
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$root"

packages=(ffmpeg ca-certificates)
if [ "${1:-}" = "--test" ]; then
  packages+=(chromium python3-gi python3-aiortc gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gir1.2-gst-rtsp-server-1.0
    gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
    gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-rtsp gstreamer1.0-x
    mosquitto mosquitto-clients python3-lxml openssl
    podman runc catatonit debootstrap debian-archive-keyring
    coturn iptables iproute2)
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "setup: please install these packages with your package manager: ${missing[*]}" >&2
    exit 1
  fi
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Node.js: the machine's own when new enough, else Node 24 from the npm registry into .node/.
if ! scripts/node.sh -e '' 2>/dev/null; then
  echo "setup: installing Node.js 24 from the npm registry into .node/"
  npm install --prefix "$root/.node" --no-save --no-audit --no-fund node@24 >/dev/null
  [ -x "$root/.node/node_modules/node/bin/node" ] || { echo "setup: Node.js 24 install failed" >&2; exit 1; }
fi
echo "setup: node $(scripts/node.sh --version)"
# npm itself then runs on that Node too (no engine warnings from an older one).
node_dir="$(dirname "$(scripts/node.sh -p process.execPath)")"
export PATH="$node_dir:$PATH"

# Dependencies exactly as locked. ffmpeg-static is optional: its binary download fails on closed
# networks and npm then skips it; Debian's ffmpeg (above) is used instead.
npm ci --no-audit --no-fund
