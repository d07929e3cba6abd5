/**
 * `npm run skill:build`: bundles the Lambda (skill/src/index.ts) into one ESM file for the Node 22
 * runtime and packs it as a deployable zip (handler `index.handler`):
 *   skill/dist/index.mjs, skill/dist/porchlight-skill.zip
 */
import { build } from 'esbuild';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeZip } from './zip.ts';

/** ws (under mqtt.js) tries these native speed-ups and goes on without them. */
const OPTIONAL_NATIVE = new Set(['bufferutil', 'utf-8-validate']);

const SKILL_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(SKILL_DIR, '..');

export interface SkillBuild {
  bundle: string;
  zip: string;
  bundleBytes: number;
  zipBytes: number;
}

export async function buildSkill(outDir = join(SKILL_DIR, 'dist')): Promise<SkillBuild> {
  mkdirSync(outDir, { recursive: true });
  const bundle = join(outDir, 'index.mjs');
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: ['skill/src/index.ts'],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    minify: false, // readable in the Lambda console and in CloudWatch stack traces
    metafile: true,
    logLevel: 'warning',
    // mqtt.js and its dependencies are CommonJS and require() Node's built-ins: an ESM bundle needs a real require.
    banner: { js: "// porchlight skill Lambda, built by skill/build.ts from skill/src/index.ts. Handler: index.handler\nimport { createRequire as __porchlightCreateRequire } from 'node:module';\nconst require = __porchlightCreateRequire(import.meta.url);" },
  });

  // The Lambda ships alone: refuse a bundle that pulled in the bridge's code, or any npm package
  // but the MQTT client the relay needs (and what it depends on), bundled in.
  const foreign = Object.keys(result.metafile.inputs).filter((input) => !input.startsWith('skill/src/') && !input.startsWith('node_modules/'));
  if (foreign.length) throw new Error(`the skill bundle must only contain skill/src/, but it includes: ${foreign.join(', ')}`);
  const imports = Object.values(result.metafile.outputs).flatMap((output) => output.imports.map((i) => i.path));
  const notBuiltin = [...new Set(imports.filter((path) => !isBuiltin(path) && !OPTIONAL_NATIVE.has(path)))];
  if (notBuiltin.length) throw new Error(`the skill bundle may import Node built-ins only, not: ${notBuiltin.join(', ')}`);

  const code = readFileSync(bundle);
  const zip = join(outDir, 'porchlight-skill.zip');
  const packed = writeZip([{ name: 'index.mjs', data: code }]);
  writeFileSync(zip, packed);
  return { bundle, zip, bundleBytes: code.length, zipBytes: packed.length };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const built = await buildSkill();
  console.log(`${built.bundle} (${built.bundleBytes} bytes)\n${built.zip} (${built.zipBytes} bytes): upload it as the Lambda's code, runtime Node.js 22.x, handler index.handler, timeout 10 s, env BRIDGE_URL and PROXY_SECRET (or RELAY_URL, RELAY_BRIDGE_ID, RELAY_CERT, RELAY_KEY and PROXY_SECRET)`);
}
