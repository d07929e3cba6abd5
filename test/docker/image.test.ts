/**
 * docker/Dockerfile really built (podman, on a stand-in node:24-bookworm-slim: ./podman.ts) and run
 * on the host's network as compose.yaml runs it: health and HEALTHCHECK, a signed Discover, live
 * video to Chromium from the demo camera, the user it runs as, a clean `podman stop`, and the
 * secrets it generates in /data. docker-files.test.ts checks what the files say; this, what they do.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { signatureHeaders, signReply } from '../../src/signing/signature.ts';
import { assertValidAlexaMessage } from '../helpers/alexa-schema.ts';
import { launchChromium, type ChromiumBrowser } from '../helpers/chromium-viewer.ts';
import { directive, discoverDirective } from '../helpers/directives.ts';
import { until } from '../helpers/until.ts';
import { lastOf, ROOT } from './docker-files.ts';
import { BASE_IMAGE, ensureBaseImage, freePort, podman, podmanUnavailable, PodmanScratch } from './podman.ts';

const TAG = 'localhost/porchlight:test';
const UDP_FIRST = 46000; // a range no other test uses
const UDP_LAST = 46099;
const GRACE_SEC = 15; // compose.yaml's stop_grace_period
const PROXY_SECRET = randomBytes(24).toString('base64url');
const ADMIN_TOKEN = randomBytes(24).toString('base64url');
const WORKDIR = lastOf('WORKDIR')!.args; // the repository's layout is under it (docker-files.test.ts)

function logLines(text: string): Array<Record<string, unknown>> {
  return text.split('\n').flatMap((line) => {
    try {
      const parsed: unknown = JSON.parse(line);
      return parsed && typeof parsed === 'object' ? [parsed as Record<string, unknown>] : [];
    } catch {
      return []; // podman's own messages, anything not a log line
    }
  });
}

/** Waits for GET /healthz to answer 200, failing at once (with the logs) if the container exits. */
async function healthy(pod: PodmanScratch, name: string, url: string): Promise<void> {
  await until(`${name} to answer /healthz`, async () => {
    const ok = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
    if (!ok && (await pod.inspect(name, '{{.State.Running}}')) !== 'true') {
      assert.fail(`${name} exited: ${await pod.inspect(name, '{{.State.ExitCode}}')}\n${await pod.logs(name)}`);
    }
    return ok;
  }, 30_000, 200);
}

async function postAlexa(url: string, body: unknown, signed = true) {
  const raw = JSON.stringify(body);
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(signed ? signatureHeaders(PROXY_SECRET, raw) : {}) };
  const response = await fetch(`${url}/alexa`, { method: 'POST', headers, body: raw, signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  return { response, text, requestMac: headers['x-porchlight-signature']?.slice(3) };
}

const skip = podmanUnavailable();

describe('the Docker image, built and run by podman', { skip }, () => {
  const pod = new PodmanScratch(TAG);
  const scratch = mkdtempSync(join(tmpdir(), 'porchlight-image-'));
  let browser: ChromiumBrowser | undefined;
  let bridge: string; // the container's name
  let url: string;

  before(async () => {
    // Chromium starts while the image builds; the base is made once and kept (~30 s the first time).
    const launching = launchChromium();
    launching.then((b) => (browser = b), () => {});
    await pod.removeStale();
    await ensureBaseImage(240_000);
    await pod.build(240_000);
    browser = await launching;

    // /config as compose.yaml mounts it (read-only, readable by uid 1000): the demo clip, with the
    // answer advertising loopback only, on ports of a range of this test's own.
    const configDir = join(scratch, 'config');
    mkdirSync(configDir);
    chmodSync(configDir, 0o755); // the bridge runs as uid 1000
    writeFileSync(join(configDir, 'porchlight.yaml'), stringify({
      webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: `${UDP_FIRST}-${UDP_LAST}` },
      cameras: [{ id: 'demo', name: 'Demo Camera', url: `file:${WORKDIR}/${relative(ROOT, DEMO_CLIP)}` }],
    }), { mode: 0o644 });

    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    bridge = await pod.run('bridge', [
      '-v', `${await pod.volume('data')}:/data`, '-v', `${configDir}:/config:ro`,
      '-e', 'PORCHLIGHT_CONFIG=/config/porchlight.yaml', '-e', 'PORCHLIGHT_HOST=127.0.0.1', '-e', `PORCHLIGHT_PORT=${port}`,
      '-e', `PORCHLIGHT_PROXY_SECRET=${PROXY_SECRET}`, '-e', `PORCHLIGHT_ADMIN_TOKEN=${ADMIN_TOKEN}`,
    ]);
    await healthy(pod, bridge, url);
  }, { timeout: 540_000 });

  after(async () => {
    await browser?.close();
    await pod.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  }, { timeout: 120_000 });

  test('what the image adds to its base stays small: Mesa\'s GL drivers (and LLVM) are left out', async (t) => {
    const size = async (image: string) => Number((await podman(['image', 'inspect', image, '--format', '{{.Size}}'])).stdout.trim());
    const added = (await size(TAG)) - (await size(BASE_IMAGE));
    t.diagnostic(`image ${Math.round((await size(TAG)) / 1e6)} MB, ${Math.round(added / 1e6)} MB over the base`);
    // ~345 MB on amd64 (README, Run with Docker); with the GL drivers back it is ~510 MB.
    assert.ok(added < 420e6, `${Math.round(added / 1e6)} MB over the base`);
    const gl = await pod.exec(bridge, ['find', '/usr/lib', '(', '-path', '*/dri/*', '-o', '-name', 'libLLVM*', ')']);
    assert.equal(gl.code, 0, gl.stderr);
    assert.equal(gl.stdout.trim(), '');
  });

  test('GET /healthz answers 200 and the image\'s HEALTHCHECK passes', async () => {
    const response = await fetch(`${url}/healthz`);
    assert.equal(response.status, 200);
    const check = JSON.parse(await pod.inspect(bridge, '{{json .Config.Healthcheck}}')) as { Test?: string[] } | null;
    assert.deepEqual(check?.Test?.slice(0, 2), ['CMD', 'node'], 'HEALTHCHECK kept in the image (docker format)');
    const run = await podman(['healthcheck', 'run', bridge], { timeoutMs: 15_000, allowFail: true });
    assert.equal(run.code, 0, `healthcheck: ${run.stdout}${run.stderr}`);
  });

  test('a signed Discover through the container is answered, schema-valid and signed back; an unsigned one is refused', async () => {
    const { response, text, requestMac } = await postAlexa(url, discoverDirective());
    assert.equal(response.status, 200, text);
    const reply = JSON.parse(text);
    assertValidAlexaMessage(reply);
    assert.equal(reply.event.header.name, 'Discover.Response');
    assert.deepEqual(reply.event.payload.endpoints.map((e: { endpointId: string }) => e.endpointId), ['demo']);
    assert.equal(response.headers.get('x-porchlight-reply-signature'), signReply(PROXY_SECRET, requestMac!, text));
    assert.equal((await postAlexa(url, discoverDirective(), false)).response.status, 401, 'PORCHLIGHT_PROXY_SECRET applies');
  });

  test('Chromium decodes the demo camera, answered with 127.0.0.1 on ports of the configured range', async () => {
    // It keeps watching: the tests below need the camera's ffmpeg running.
    const viewer = await browser!.newViewer();
    const offer = await viewer.createOffer({ audio: 'none' });
    const request = directive('Alexa.RTCSessionController', 'InitiateSessionWithOffer', {
      endpointId: 'demo', payload: { sessionId: 'image-session', offer: { format: 'SDP', value: offer } },
    });
    const { response, text } = await postAlexa(url, request);
    assert.equal(response.status, 200, text);
    const reply = JSON.parse(text);
    assertValidAlexaMessage(reply);
    assert.equal(reply.event.header.name, 'AnswerGeneratedForSession', text);
    const answer: string = reply.event.payload.answer.value;
    const candidates = [...answer.matchAll(/^a=candidate:\S+ \d+ (\S+) \d+ (\S+) (\d+) typ (\S+)/gm)];
    assert.ok(candidates.length > 0, answer);
    for (const [line, , address, port] of candidates) {
      assert.equal(address, '127.0.0.1', line);
      assert.ok(Number(port) >= UDP_FIRST && Number(port) <= UDP_LAST, line);
    }
    await viewer.setAnswer(answer);
    const stats = await viewer.waitFor((s) => s.framesDecoded >= 10, 20_000);
    assert.ok(stats.frameWidth! > 0);
  });

  test('runs as uid 1000 with /data its own; ffmpeg runs with every library it links; no native code in node_modules', async () => {
    // The viewer above keeps the camera's ffmpeg running.
    const processes = await until('ffmpeg in the container', async () => {
      const list = await pod.processes(bridge);
      return list.some((p) => p.comm === 'ffmpeg') && list;
    }, 10_000, 200);
    for (const { hpid, comm } of processes) {
      const uids = /^Uid:\s+(.*)$/m.exec(readFileSync(`/proc/${hpid}/status`, 'utf8'))?.[1]?.split(/\s+/);
      assert.deepEqual(uids, ['1000', '1000', '1000', '1000'], `${comm} (${hpid})`);
    }
    const data = await pod.exec(bridge, ['stat', '-c', '%u:%g', '/data']);
    assert.equal(data.stdout.trim(), '1000:1000', data.stderr);
    // The Dockerfile leaves Mesa's GL drivers out of the image: nothing ffmpeg links may be missing.
    const ldd = await pod.exec(bridge, ['ldd', '/usr/bin/ffmpeg']);
    assert.equal(ldd.code, 0, ldd.stderr);
    assert.doesNotMatch(ldd.stdout, /not found/);
    // What keeps an arm64 build change-free (README): no install scripts, addons or prebuilt binaries.
    const native = await pod.exec(bridge, ['node', '-e', NATIVE_CODE, `${WORKDIR}/node_modules`]);
    assert.equal(native.code, 0, native.stderr);
    assert.deepEqual(JSON.parse(native.stdout), []);
  });

  test('porchlight skill setup runs in the image (docker compose run): the Lambda\'s zip and the manifest are there, a wrong region is refused', async () => {
    const files = await pod.exec(bridge, ['node', '-e', "for (const f of ['skill/dist/porchlight-skill.zip', 'skill/skill.json']) require('node:fs').statSync(f)"]);
    assert.equal(files.code, 0, files.stderr);
    const refused = await pod.exec(bridge, ['node', 'src/main.ts', 'skill', 'setup', '--region', 'ap-south-1']);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /not a region Alexa calls/);
  });

  test('podman stop: the bridge stops its ffmpeg and exits 0 within the grace period', async () => {
    const processes = await pod.processes(bridge);
    assert.ok(processes.some((p) => p.comm === 'ffmpeg'), 'ffmpeg runs before the stop');
    const started = Date.now();
    await podman(['stop', '--time', String(GRACE_SEC), bridge], { timeoutMs: (GRACE_SEC + 15) * 1000 });
    const tookMs = Date.now() - started;
    assert.equal(await pod.inspect(bridge, '{{.State.ExitCode}}'), '0', await pod.logs(bridge));
    assert.ok(tookMs < GRACE_SEC * 1000, `stopped in ${tookMs} ms`);
    const lines = logLines(await pod.logs(bridge));
    const shutdown = lines.findIndex((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM');
    assert.ok(shutdown >= 0, 'SIGTERM reached the bridge (through --init)');
    assert.ok(lines.slice(shutdown).some((l) => l.msg === 'stopping ffmpeg' && l.state === 'closed'), 'the bridge stopped ffmpeg itself');
    for (const { hpid, comm } of processes) {
      const status = existsSync(`/proc/${hpid}/status`) ? readFileSync(`/proc/${hpid}/status`, 'utf8') : '';
      assert.doesNotMatch(status, new RegExp(`^Name:\\s+${comm}$`, 'm'), `${comm} (${hpid}) outlived the container`);
    }
  });

  test('without secrets in the environment, the ones it generates are in /data/secrets.json, mode 0600, its own', async () => {
    const port = await freePort();
    const fresh = await pod.run('secrets', ['-v', `${await pod.volume('secrets')}:/data`,
      '-e', 'PORCHLIGHT_HOST=127.0.0.1', '-e', `PORCHLIGHT_PORT=${port}`]);
    await healthy(pod, fresh, `http://127.0.0.1:${port}`);
    const stat = await pod.exec(fresh, ['stat', '-c', '%a %u:%g', '/data/secrets.json']);
    assert.equal(stat.stdout.trim(), '600 1000:1000', stat.stderr);
    const warned = logLines(await pod.logs(fresh)).filter((l) => l.file === '/data/secrets.json').map((l) => l.setting);
    assert.deepEqual(warned.sort(), ['adminToken', 'proxySecret'], 'the log says where the generated secrets are');
    await podman(['stop', '--time', String(GRACE_SEC), fresh], { timeoutMs: (GRACE_SEC + 15) * 1000 });
    assert.equal(await pod.inspect(fresh, '{{.State.ExitCode}}'), '0');
  });
});

/** Run in the image: node_modules' install scripts, native addons, prebuilt binaries and per-platform packages. */
const NATIVE_CODE = `
const { readdirSync, readFileSync } = require('node:fs');
const { join } = require('node:path');
const found = [];
(function walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) { if (entry.name === 'prebuilds') found.push(path); else walk(path); continue; }
    if (entry.name.endsWith('.node') || entry.name === 'binding.gyp') found.push(path);
    if (entry.name !== 'package.json') continue;
    let pkg; try { pkg = JSON.parse(readFileSync(path, 'utf8')); } catch { continue; }
    const scripts = Object.keys(pkg.scripts ?? {}).filter((s) => ['preinstall', 'install', 'postinstall'].includes(s));
    if (pkg.name && (scripts.length || pkg.gypfile || pkg.binary || pkg.os || pkg.cpu)) found.push(path + ' ' + scripts.join(','));
  }
})(process.argv[1]);
process.stdout.write(JSON.stringify(found));
`;
