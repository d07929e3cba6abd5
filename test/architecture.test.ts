/**
 * The src/ tree reads as the architecture (docs/architecture.md): alexa/ pure protocol at the
 * bottom, the services above it, http/ above them, the command-line tools and app/ on top. An
 * import may point only downwards, or within its own folder; folders on the same level do not
 * import each other.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

/** Higher numbers may import lower ones. Files at the top of src/ are named with their extension. */
const LEVELS: Record<string, number> = {
  'util': 0,
  'log.ts': 1,
  'alexa': 1,
  'signing': 2,
  'config': 2,
  'camera': 3,
  'events': 3,
  'cloud': 3,
  'relay': 3,
  // The console's browser code and the API types it shares with http/.
  'web': 3,
  'webrtc': 4,
  // Finding and inspecting cameras (ONVIF, RTSP): the CLI and the console use it.
  'onboarding': 4,
  'http': 5,
  'metrics.ts': 5,
  'relay-setup': 6,
  'skill-setup': 7,
  'app': 8,
  'cli.ts': 9,
  'main.ts': 10,
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : name.endsWith('.ts') ? [path] : [];
  });
}

/** The folder (or top-level file) a path in src/ belongs to. */
function unit(path: string): string {
  return relative(SRC, path).split('/')[0]!;
}

test('every folder and top-level file of src/ has a level', () => {
  const units = new Set(sourceFiles(SRC).map(unit));
  assert.deepEqual([...units].filter((u) => !(u in LEVELS)), []);
});

test('imports point down the layers, never up or sideways', () => {
  const wrong: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = unit(file);
    for (const [, target] of readFileSync(file, 'utf8').matchAll(/^(?:import|export)[^'"]*?from\s+'(\.{1,2}\/[^']+)'/gm)) {
      const resolved = resolve(dirname(file), target!);
      if (!resolved.startsWith(`${SRC}/`)) continue; // ../skill/… from main.ts: a developer tool it loads on demand
      const to = unit(resolved);
      if (to === from) continue;
      if (LEVELS[to]! >= LEVELS[from]!) wrong.push(`${relative(SRC, file)} imports ${relative(SRC, resolved)} (${from} ${LEVELS[from]} → ${to} ${LEVELS[to]})`);
    }
  }
  assert.deepEqual(wrong, []);
});
