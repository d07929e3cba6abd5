#!/usr/bin/env bash
# Runs porchlight's Node.js (>= 22.18, which runs TypeScript by stripping types): PORCHLIGHT_NODE,
# else `node` on PATH when new enough, else the copy `npm run setup` puts in .node/.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
new_enough() {
  "$1" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 18) ? 0 : 1)' 2>/dev/null
}
for candidate in "${PORCHLIGHT_NODE:-}" "$(command -v node || true)" "$root/.node/node_modules/node/bin/node"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && new_enough "$candidate"; then
    exec "$candidate" "$@"
  fi
done
echo "porchlight needs Node.js >= 22.18. Run 'npm run setup' (it puts Node 24 from the npm registry in .node/)." >&2
exit 1
