import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, DEMO_CLIP, loadConfigFile } from '../../src/config/load.ts';
import { withSecrets } from '../../src/config/secrets.ts';

const dir = mkdtempSync(join(tmpdir(), 'porchlight-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function writeConfig(text: string): string {
  n += 1;
  const path = join(dir, `config-${n}.yaml`);
  writeFileSync(path, text);
  return path;
}

function problemsOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    loadConfigFile(writeConfig(text), env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected the configuration to be refused');
}

const camera = (extra = '') => `  - id: front\n    name: Front\n    url: rtsp://user:pass@192.168.1.20:554/stream1\n${extra}`;

describe('configuration errors name the field and the reason', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['bad camera url scheme', `cameras:\n${camera()}  - id: back\n    name: Back\n    url: http://192.168.1.21/video\n`, /^cameras\[1\]\.url: must be rtsp:\/\/, rtsps:\/\/ or file:$/],
    ['missing url', 'cameras:\n  - id: front\n    name: Front\n', /^cameras\[0\]\.url: is required$/],
    ['bad id', 'cameras:\n  - id: front door\n    name: Front\n    url: file:x.mp4\n', /^cameras\[0\]\.id: must be 1 to 256 characters/],
    ['duplicate id', `cameras:\n${camera()}${camera()}`, /^cameras\[1\]\.id: "front" is already used by cameras\[0\]$/],
    ['bad kind', `cameras:\n${camera('    kind: siren\n')}`, /^cameras\[0\]\.kind: must be one of camera, doorbell$/],
    ['bad transcode', `cameras:\n${camera('    transcode: sometimes\n')}`, /^cameras\[0\]\.transcode: must be one of auto, always, never$/],
    ['bad talkback', `cameras:\n${camera('    talkback: sip\n')}`, /^cameras\[0\]\.talkback: must be one of none, onvif$/],
    ['name too long', `cameras:\n  - id: a\n    name: ${'n'.repeat(129)}\n    url: file:x.mp4\n`, /^cameras\[0\]\.name: must be a name of 1 to 128 characters$/],
    ['no cameras', 'cameras: []\n', /^cameras: must list at least one camera$/],
    ['cameras missing', 'server:\n  port: 8080\n', /^cameras: is required$/],
    ['port out of range', `server:\n  port: 70000\ncameras:\n${camera()}`, /^server\.port: must be a whole number from 0 to 65535$/],
    ['short proxy secret', `server:\n  proxySecret: abc\ncameras:\n${camera()}`, /^server\.proxySecret: must be a string of at least 16 characters$/],
    ['unknown key', `cameras:\n${camera('    urll: rtsp://x\n')}`, /^cameras\[0\]\.urll: is not a known setting/],
    ['unknown top-level key', `camras: []\ncameras:\n${camera()}`, /^camras: is not a known setting/],
    ['bad region', `alexa:\n  region: MARS\ncameras:\n${camera()}`, /^alexa\.region: must be one of NA, EU, FE$/],
    ['bad udp range', `webrtc:\n  udpPorts: "50000-40000"\ncameras:\n${camera()}`, /^webrtc\.udpPorts: must be a range/],
    ['udp range format', `webrtc:\n  udpPorts: lots\ncameras:\n${camera()}`, /^webrtc\.udpPorts: must be a port range like 40000-40100$/],
    ['health interval', `healthIntervalSec: 1\ncameras:\n${camera()}`, /^healthIntervalSec: must be a number from 5 to 86400$/],
    ['ice server url', `webrtc:\n  iceServers:\n    - urls: http://stun.example\ncameras:\n${camera()}`, /^webrtc\.iceServers\[0\]\.urls: must be a stun:\/turn: URL/],
    ['client id without secret', `alexa:\n  clientId: amzn1.application-oa2-client.x\ncameras:\n${camera()}`, /^alexa\.clientSecret: is required when alexa\.clientId is set$/],
    ['server not a mapping', `server: 8080\ncameras:\n${camera()}`, /^server: must be a mapping/],
    ['rtsp url without host', `cameras:\n  - id: a\n    name: A\n    url: rtsp://\n`, /^cameras\[0\]\.url: /],
    ['mqtt url scheme', `mqtt:\n  url: http://broker.lan\ncameras:\n${camera()}`, /^mqtt\.url: must be an mqtt:\/\/, mqtts:\/\/, ws:\/\/ or wss:\/\/ URL$/],
    ['mqtt url missing', `mqtt:\n  username: u\ncameras:\n${camera()}`, /^mqtt\.url: is required$/],
    ['mqtt topic with a wildcard', `mqtt:\n  url: mqtt://broker.lan\ncameras:\n${camera('    mqtt:\n      motionTopic: frigate/+/motion\n')}`, /^cameras\[0\]\.mqtt\.motionTopic: must be an MQTT topic without wildcards/],
    ['camera mqtt without a broker', `cameras:\n${camera('    mqtt:\n      doorbellTopic: hass/door\n')}`, /^cameras\[0\]\.mqtt: needs the top-level mqtt: \{ url \} broker setting$/],
    ['onvif not a boolean or mapping', `cameras:\n${camera('    onvif: please\n')}`, /^cameras\[0\]\.onvif: must be true, false or \{ url\?/],
    ['onvif url scheme', `cameras:\n${camera('    onvif:\n      url: rtsp://cam/onvif\n')}`, /^cameras\[0\]\.onvif\.url: must be an http:\/\/ or https:\/\/ URL/],
    ['onvif: true on a file camera', 'cameras:\n  - id: a\n    name: A\n    url: file:x.mp4\n    onvif: true\n', /^cameras\[0\]\.onvif: the device address comes from an rtsp:\/\/ url/],
    ['motion hold', `motionHoldSec: 0\ncameras:\n${camera()}`, /^motionHoldSec: must be a number from 1 to 3600$/],
    ['an admin token of one repeated letter', `server:\n  adminToken: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\ncameras:\n${camera()}`, /^server\.adminToken: too weak .*1 distinct characters.*openssl rand/],
    ['a 16-character hex proxy secret', `server:\n  proxySecret: 0123456789abcdef\ncameras:\n${camera()}`, /^server\.proxySecret: too weak \(about 82 bits/],
  ];
  for (const [name, yaml, expected] of cases) {
    test(name, () => {
      const problems = problemsOf(yaml);
      assert.ok(problems.some((p) => expected.test(p)), `got: ${JSON.stringify(problems)}`);
    });
  }

  test('camera events: mqtt gets its topic prefix, motion its hold; onvif takes true or a mapping', () => {
    const { config } = loadConfigFile(writeConfig(`mqtt:\n  url: mqtts://broker.lan:8883\n  username: hass\n  password: mqtt-pw\ncameras:\n${camera('    kind: doorbell\n    onvif: true\n    mqtt:\n      motionTopic: frigate/front/motion\n')}  - id: yard\n    name: Yard\n    url: rtsp://192.168.1.21/h264\n    onvif:\n      url: http://192.168.1.21:8000/onvif/device_service\n      doorbellTopic: tns1:Vendor/Button\n    motion: false\n`), {});
    assert.equal(config.mqtt?.topicPrefix, 'porchlight');
    assert.equal(config.motionHoldSec, 30);
    assert.equal(config.cameras[0]!.onvif, true);
    assert.equal(config.cameras[0]!.mqtt?.motionTopic, 'frigate/front/motion');
    assert.deepEqual(config.cameras[1]!.onvif, { url: 'http://192.168.1.21:8000/onvif/device_service', doorbellTopic: 'tns1:Vendor/Button' });
    assert.equal(config.cameras[1]!.motion, false);
  });

  test('secrets with about 128 bits pass: 22 base64url characters, 32 hex digits', () => {
    for (const secret of ['Xk3_pQ9-vT2mZr8LwY4bNa', '6f1c9e0ab24d7e38c5f9a10b3d6e7f42']) {
      assert.doesNotThrow(() => loadConfigFile(writeConfig(`server:\n  adminToken: ${secret}\n  proxySecret: ${secret}\ncameras:\n${camera()}`), {}), secret);
    }
  });

  test('all problems are reported at once', () => {
    const problems = problemsOf(`server:\n  port: -1\ncameras:\n  - id: "a b"\n    name: A\n    url: ftp://x\n`);
    assert.equal(problems.length, 3, JSON.stringify(problems));
  });

  test('YAML syntax errors give the line', () => {
    const problems = problemsOf('cameras:\n  - id: a\n   name: [unclosed\n');
    assert.match(problems[0]!, /^config: YAML syntax error at line \d+/);
  });

  test('an empty file and a missing file are clear', () => {
    assert.deepEqual(problemsOf(''), ['config: the file is empty']);
    assert.throws(() => loadConfigFile(join(dir, 'nope.yaml'), {}), /config: cannot read the file \(ENOENT\)/);
  });

  test('a bad env override names the variable', () => {
    const problems = problemsOf(`cameras:\n${camera()}`, { PORCHLIGHT_PORT: 'eighty' });
    assert.deepEqual(problems, ['PORCHLIGHT_PORT: must be a whole number from 0 to 65535']);
  });

  test('error messages never show the camera password', () => {
    const problems = problemsOf(`cameras:\n  - id: "bad id"\n    name: A\n    url: rtsp://admin:hunter2hunter2@10.0.0.1/s\n`);
    assert.ok(!problems.join('\n').includes('hunter2'));
  });
});

describe('loading a good configuration', () => {
  test('defaults, env overrides, and paths relative to the file', () => {
    const path = writeConfig(`dataDir: state\ncameras:\n  - id: clip\n    name: Clip\n    url: file:media/clip.mp4\n${camera().replace('  - id: front', '  - id: front')}`);
    const { config } = loadConfigFile(path, { PORCHLIGHT_PORT: '9090', PORCHLIGHT_HOST: '127.0.0.1' });
    assert.equal(config.server.port, 9090);
    assert.equal(config.server.host, '127.0.0.1');
    assert.equal(config.healthIntervalSec, 30);
    assert.equal(config.lingerSec, 10);
    assert.equal(config.doorbellDebounceSec, 5);
    assert.equal(config.webrtc.answerTimeoutMs, 5000);
    assert.equal(config.webrtc.udpPorts, '40000-40100');
    assert.equal(config.alexa.region, 'NA');
    assert.equal(config.dataDir, join(dir, 'state'));
    assert.equal(config.cameras[0]!.url, `file:${join(dir, 'media/clip.mp4')}`);
    assert.deepEqual(
      { kind: config.cameras[1]!.kind, talkback: config.cameras[1]!.talkback, transcode: config.cameras[1]!.transcode, preload: config.cameras[1]!.preload },
      { kind: 'camera', talkback: 'none', transcode: 'auto', preload: false },
    );
  });

  test('no file: the embedded demo camera on the committed clip', () => {
    const { config, source } = loadConfigFile(undefined, {});
    assert.equal(source, 'embedded demo');
    assert.deepEqual(config.cameras.map((c) => [c.id, c.name, c.url]), [['demo', 'Demo Camera', `file:${DEMO_CLIP}`]]);
    assert.ok(statSync(DEMO_CLIP).size > 10_000, 'media/demo.mp4 is committed');
  });

  test('secrets not given are generated once, stored 0600, and reused', () => {
    const path = writeConfig(`dataDir: secrets-test\ncameras:\n${camera()}`);
    const first = withSecrets(loadConfigFile(path, {}).config, path);
    assert.deepEqual(first.generatedSecrets.sort(), ['adminToken', 'proxySecret']);
    assert.ok(first.server.proxySecret.length >= 32);
    const file = join(dir, 'secrets-test', 'secrets.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).proxySecret, first.server.proxySecret);
    const second = withSecrets(loadConfigFile(path, {}).config, path);
    assert.deepEqual(second.generatedSecrets, []);
    assert.equal(second.server.proxySecret, first.server.proxySecret);
    assert.equal(second.server.adminToken, first.server.adminToken);
    const overridden = withSecrets(loadConfigFile(path, { PORCHLIGHT_PROXY_SECRET: 'from-the-environment-1234' }).config, path);
    assert.equal(overridden.server.proxySecret, 'from-the-environment-1234');
  });
});
