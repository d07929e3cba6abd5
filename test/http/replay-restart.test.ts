/**
 * A captured signed directive is refused as a replay even after the bridge restarts: the seen
 * signatures are kept in the store until they leave the signature window.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { signatureHeaders } from '../../src/signing/signature.ts';
import { PROXY_SECRET, startBridge, type TestBridge } from '../helpers/bridge.ts';
import { discoverDirective } from '../helpers/directives.ts';

const dir = mkdtempSync(join(tmpdir(), 'porchlight-replay-'));
let bridge: TestBridge | undefined;
after(async () => {
  await bridge?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a signed Discover replayed after a restart → 401 replay', async () => {
  const config = { cameras: [{ id: 'demo', name: 'Demo', url: `file:${DEMO_CLIP}` }] };
  const raw = JSON.stringify(discoverDirective());
  const headers = signatureHeaders(PROXY_SECRET, raw);
  bridge = await startBridge(config, { dir });
  const first = await bridge.postAlexa(undefined, { raw, headers });
  assert.equal(first.status, 200);
  assert.equal((await bridge.postAlexa(undefined, { raw, headers })).status, 401, 'replay refused while running');

  await bridge.close();
  bridge = await startBridge(config, { dir });
  const replayed = await bridge.postAlexa(undefined, { raw, headers });
  assert.equal(replayed.status, 401);
  assert.equal(replayed.json.reason, 'replay');
  // A fresh signature is served as usual.
  assert.equal((await bridge.postAlexa(discoverDirective())).status, 200);
});
