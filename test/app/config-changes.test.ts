import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configChanges } from '../../src/app/config-changes.ts';
import type { Config } from '../../src/config/schema.ts';

const base = {
  source: '/etc/porchlight.yaml', generatedSecrets: [], dataDir: '/data', lingerSec: 10,
  server: { host: '0.0.0.0', port: 8080, proxySecret: 'p', adminToken: 'a' },
  webrtc: { udpPorts: '40000-40100', answerTimeoutMs: 5000 },
  cameras: [
    { id: 'door', name: 'Door', kind: 'doorbell', url: 'rtsp://cam-1/s' },
    { id: 'yard', name: 'Yard', kind: 'camera', url: 'rtsp://cam-2/s' },
  ],
} as unknown as Config;
const withChanges = (change: Partial<Record<keyof Config, unknown>>) => ({ ...base, ...change }) as Config;

test('cameras added, changed and removed; MQTT; settings that need a restart named by their path', () => {
  const cases: Array<[string, Config, Partial<ReturnType<typeof configChanges>>]> = [
    ['nothing', withChanges({}), { added: [], changed: [], removed: [], mqtt: false, needRestart: [] }],
    ['an added camera', withChanges({ cameras: [...base.cameras, { id: 'gate', name: 'Gate', kind: 'camera', url: 'rtsp://cam-3/s' }] }), { added: ['gate'], changed: [], removed: [] }],
    ['a removed camera', withChanges({ cameras: [base.cameras[0]] }), { added: [], removed: ['yard'] }],
    ['a renamed camera', withChanges({ cameras: [{ ...base.cameras[0]!, name: 'Porch' }, base.cameras[1]] }), { changed: ['door'] }],
    ['the list reordered', withChanges({ cameras: [base.cameras[1], base.cameras[0]] }), { added: [], changed: [], removed: [] }],
    ['MQTT added', withChanges({ mqtt: { url: 'mqtt://broker', topicPrefix: 'porchlight' } }), { mqtt: true, needRestart: [] }],
    ['the port and the default linger', withChanges({ server: { ...base.server, port: 9090 }, lingerSec: 30 }), { needRestart: ['lingerSec', 'server.port'] }],
    ['another file', withChanges({ source: '/etc/other.yaml' }), { needRestart: [] }],
  ];
  for (const [name, next, expected] of cases) {
    const changes = configChanges(base, next);
    for (const [key, value] of Object.entries(expected)) {
      const actual = key === 'needRestart' ? [...(changes.needRestart)].sort() : changes[key as keyof typeof changes];
      assert.deepEqual(actual, value, `${name}: ${key}`);
    }
  }
});
