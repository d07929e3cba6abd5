/**
 * The `relay:` section is checked before anything dials out: check-config and start-up name a
 * wrong URL, an unreadable file, a key that is not the certificate's, and never print PEM text.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfigFile } from '../../src/config/load.ts';
import { isReplyTopic } from '../../src/relay/topics.ts';
import { makePki, type Pki } from '../fixtures/relay-pki.ts';

const CAMERAS = 'cameras:\n  - id: front\n    name: Front\n    url: rtsp://192.168.1.20:554/stream1\n';

describe('relay configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'porchlight-relay-config-'));
  let pki: Pki;
  let n = 0;
  before(async () => {
    pki = await makePki(dir, ['bridge', 'other']);
    // The layout relay setup writes: files beside the config, named relatively.
    mkdirSync(join(dir, 'relay'));
    copyFileSync(pki.clients.bridge!.cert, join(dir, 'relay', 'bridge.crt'));
    copyFileSync(pki.clients.bridge!.key, join(dir, 'relay', 'bridge.key'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const load = (relay: string) => {
    const path = join(dir, `config-${n++}.yaml`);
    writeFileSync(path, `relay:\n${relay}${CAMERAS}`);
    return loadConfigFile(path, {});
  };
  const problems = (relay: string): string[] => {
    try {
      load(relay);
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.problems;
    }
    assert.fail('expected the relay section to be refused');
  };

  test('paths are relative to the config file; bridgeId defaults to home', () => {
    const { config } = load('  url: mqtts://abc123-ats.iot.us-east-1.amazonaws.com:8883\n  cert: relay/bridge.crt\n  key: relay/bridge.key\n');
    assert.equal(config.relay?.cert, join(dir, 'relay', 'bridge.crt'));
    assert.equal(config.relay?.bridgeId, 'home');
  });

  test('each problem names its field', () => {
    const good = `  cert: ${pki.clients.bridge!.cert}\n  key: ${pki.clients.bridge!.key}\n`;
    assert.deepEqual(problems(`  url: mqtt://broker:1883\n${good}`), ['relay.url: must be an mqtts:// URL (the relay runs over TLS only)']);
    assert.deepEqual(problems(`  url: mqtts://broker:8883\n  bridgeId: my home\n${good}`), ['relay.bridgeId: must be 1–64 letters, digits, _ or -']);
    assert.deepEqual(problems(`  url: mqtts://broker:8883\n  cert: ${pki.clients.bridge!.cert}\n  key: ${pki.clients.other!.key}\n`),
      [`relay.key: ${pki.clients.other!.key} is not the key of the certificate in relay.cert`]);
    assert.deepEqual(problems(`  url: mqtts://broker:8883\n  cert: missing.crt\n  key: ${pki.clients.bridge!.key}\n`),
      [`relay.cert: cannot read ${join(dir, 'missing.crt')} (no such file)`]);
    const swapped = problems(`  url: mqtts://broker:8883\n  cert: ${pki.clients.bridge!.key}\n  key: ${pki.clients.bridge!.cert}\n  ca: ${pki.clients.bridge!.key}\n`);
    assert.deepEqual(swapped.map((p) => p.split(':')[0]), ['relay.cert', 'relay.key', 'relay.ca']);
    assert.ok(swapped.every((p) => !p.includes('BEGIN')), 'no PEM text in a message');
  });

  test('the bridge answers only to reply topics of its own, one level deep, without wildcards', () => {
    assert.equal(isReplyTopic('home', 'porchlight/home/replies/skill-1'), true);
    for (const topic of ['porchlight/other/replies/x', 'porchlight/home/replies/', 'porchlight/home/replies/a/b', 'porchlight/home/replies/#', 'porchlight/home/directives']) {
      assert.equal(isReplyTopic('home', topic), false, topic);
    }
  });
});
