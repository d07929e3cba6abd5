/**
 * `npm run skill:build`: bundles the Lambda (skill/src/index.ts) into one ESM file for the Node 22
 * runtime and packs it as a deployable zip (handler `index.handler`):
 *   skill/dist/index.mjs, skill/dist/porchlight-skill.zip
 */
import { build } from 'esbuild';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeZip } from './zip.ts';

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
    banner: { js: '// porchlight skill Lambda, built by skill/build.ts from skill/src/index.ts. Handler: index.handler' },
  });

  // The Lambda ships alone: refuse a bundle that pulled in the bridge's code or an npm package
  // (it would balloon and drag the bridge's dependencies into the function).
  const foreign = Object.keys(result.metafile.inputs).filter((input) => !input.startsWith('skill/src/'));
  if (foreign.length) throw new Error(`the skill bundle must only contain skill/src/, but it includes: ${foreign.join(', ')}`);
  const imports = Object.values(result.metafile.outputs).flatMap((output) => output.imports.map((i) => i.path));
  const notBuiltin = imports.filter((path) => !path.startsWith('node:'));
  if (notBuiltin.length) throw new Error(`the skill bundle may import Node built-ins (node:…) only, not: ${notBuiltin.join(', ')}`);

  const code = readFileSync(bundle);
  const zip = join(outDir, 'porchlight-skill.zip');
  const packed = writeZip([{ name: 'index.mjs', data: code }]);
  writeFileSync(zip, packed);
  return { bundle, zip, bundleBytes: code.length, zipBytes: packed.length };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const built = await buildSkill();
  console.log(`${built.bundle} (${built.bundleBytes} bytes)\n${built.zip} (${built.zipBytes} bytes): upload it as the Lambda's code, runtime Node.js 22.x, handler index.handler, timeout 10 s, env BRIDGE_URL and PROXY_SECRET`);
}
