/**
 * A hostile ONVIF camera (test/fixtures/hostile-onvif-camera.ts) against porchlight's event source:
 * the bridge must keep answering, stay bounded in memory and never exit. The figures before the
 * fixes (issue 25) are in each test's name.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { OnvifEventSource, renewDelayMs } from '../../src/events/onvif-source.ts';
import { capabilities, envelope, systemDateAndTime } from '../fixtures/fake-onvif-camera-soap.ts';
import { startHostileOnvifCamera, type Attack, type HostileOnvifCamera } from '../fixtures/hostile-onvif-camera.ts';
import { startBridge, type TestBridge } from '../helpers/bridge.ts';
import { probeHealth } from '../helpers/health-probe.ts';
import { until } from '../helpers/until.ts';

const quiet = pino({ level: 'silent' });

describe('a hostile ONVIF camera', () => {
  const cameras: HostileOnvifCamera[] = [];
  const bridges: TestBridge[] = [];
  after(async () => {
    for (const bridge of bridges) await bridge.close();
    for (const camera of cameras) await camera.close();
  });

  async function bridgeAgainst(attack: Attack, options: { hugeBytes?: number } = {}) {
    const camera = await startHostileOnvifCamera({ attack, ...options });
    cameras.push(camera);
    const bridge = await startBridge({
      healthIntervalSec: 3600,
      cameras: [{ id: 'door', name: 'Door', kind: 'doorbell', url: `file:${DEMO_CLIP}`, onvif: { url: camera.url } }],
    }, { app: { eventSourceRetry: { initialMs: 100, maxMs: 200 } } });
    bridges.push(bridge);
    return { camera, bridge };
  }

  test('1 MB of `xmlns` text in every answer: /healthz keeps answering (before: 42 s of regex per answer, nothing answered)', async (t) => {
    const baseline = process.memoryUsage().rss;
    const { camera, bridge } = await bridgeAgainst('xmlns');
    await until('subscribed through 1 MB answers', () => (camera.counts.get('PullMessages') ?? 0) >= 1, 15_000);
    const seen = await probeHealth(bridge.url, 4_000, baseline);
    const read = [...camera.counts.values()].reduce((a, b) => a + b, 0);
    t.diagnostic(`healthz worst ${seen.maxMs.toFixed(1)} ms over ${seen.answers} answers; ${read} hostile answers read; RSS +${seen.maxRssGrowthMb.toFixed(0)} MB`);
    assert.ok((camera.counts.get('PullMessages') ?? 0) >= 4, 'the answers kept coming and were each read');
    assert.ok(seen.maxMs < 250, `healthz took ${seen.maxMs.toFixed(0)} ms`);
    await bridge.close();
  });

  test('a 64 MB answer is cut at 1 MiB (before: buffered whole; 600 MB took RSS to 788 MB and then the process exited)', async (t) => {
    const baseline = process.memoryUsage().rss;
    const { camera, bridge } = await bridgeAgainst('huge', { hugeBytes: 64 * 1024 * 1024 });
    await until('a few huge answers tried', () => (camera.counts.get('GetSystemDateAndTime') ?? 0) >= 3, 15_000);
    const seen = await probeHealth(bridge.url, 2_000, baseline);
    const attempts = camera.counts.get('GetSystemDateAndTime')!;
    t.diagnostic(`${attempts} answers, ${Math.round(camera.hugeSent / 1e6)} MB offered in all; healthz worst ${seen.maxMs.toFixed(1)} ms; RSS +${seen.maxRssGrowthMb.toFixed(0)} MB`);
    // Each read stops a little past 1 MiB (what the socket already had): far from 64 MB each.
    assert.ok(camera.hugeSent < attempts * 16 * 1024 * 1024, `${camera.hugeSent} bytes sent for ${attempts} answers`);
    assert.ok(seen.maxRssGrowthMb < 100, `RSS grew ${seen.maxRssGrowthMb.toFixed(0)} MB`);
    assert.ok(seen.maxMs < 250, `healthz took ${seen.maxMs.toFixed(0)} ms`);
    assert.match(bridge.logText(), /larger than 1048576 bytes: refused/);
    await bridge.close();
  });

  test('an answer of one byte every 500 ms ends at the request deadline (before: an idle timeout, open for ever)', async () => {
    const camera = await startHostileOnvifCamera({ attack: 'drip', dripMs: 500 });
    cameras.push(camera);
    const source = new OnvifEventSource({ cameraId: 'door', target: { url: camera.url }, log: quiet, requestTimeoutMs: 1500, retry: { initialMs: 60_000, maxMs: 60_000 } });
    const started = Date.now();
    source.start();
    try {
      await until('the source gives up on the dripping answer', () => source.status().state === 'failing', 6_000);
      const took = Date.now() - started;
      assert.ok(took >= 1400 && took < 3000, `gave up after ${took} ms`);
      assert.match(source.status().reason ?? '', /timeout|did not answer/i);
    } finally {
      await source.close();
    }
  });

  test('the patched namespace stripping removes exactly what the original did from real answers', () => {
    const original = /xmlns([^=]*?)=(".*?")/g;
    const patched = /xmlns(?::[^\s=>"'\/]*)?\s*=\s*"[^"]*"/g;
    const answers = [
      envelope(capabilities('http://127.0.0.1:80/onvif/device_service', 'http://127.0.0.1:80/onvif/event_service')),
      envelope(systemDateAndTime(Date.now())),
      envelope('<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/>'),
    ];
    for (const xml of answers) assert.equal(xml.replace(patched, ''), xml.replace(original, ''));
    // …and it is the one the installed package runs (patches/onvif+0.8.3.patch).
    const installed = readFileSync(fileURLToPath(import.meta.resolve('onvif/lib/utils.js')), 'utf8');
    assert.ok(installed.includes(`xml.replace(/${patched.source}/g, '')`), 'the onvif package is not patched: npm ci runs patch-package');
  });

  test('a lease until 2100 is renewed after 10 minutes at the latest (before: every 1 ms, 6 894 renewals in 15 s)', async () => {
    assert.equal(renewDelayMs(Date.parse('2100-01-01') - Date.now()), 10 * 60_000);
    assert.equal(renewDelayMs(1000), 2_000);
    assert.equal(renewDelayMs(60_000), 30_000);
    const camera = await startHostileOnvifCamera({ attack: 'lease2100' });
    cameras.push(camera);
    const source = new OnvifEventSource({ cameraId: 'door', target: { url: camera.url }, log: quiet });
    source.start();
    try {
      await until('subscribed', () => source.status().state === 'subscribed', 5_000);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      assert.equal(camera.counts.get('Renew') ?? 0, 0);
      assert.equal(source.status().state, 'subscribed');
    } finally {
      await source.close();
    }
  });

  test('PullMessages answered at once with 20 events, for ever: pulls are paced to one a second (before: 7 927 pulls in 16 s)', async () => {
    const camera = await startHostileOnvifCamera({ attack: 'flood' });
    cameras.push(camera);
    const source = new OnvifEventSource({ cameraId: 'door', target: { url: camera.url }, log: quiet });
    let events = 0;
    source.on('event', () => events++);
    source.start();
    try {
      await until('subscribed', () => source.status().state === 'subscribed', 5_000);
      const before = camera.counts.get('PullMessages') ?? 0;
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const pulls = (camera.counts.get('PullMessages') ?? 0) - before;
      assert.ok(pulls >= 2 && pulls <= 4, `${pulls} pulls in 3 s`);
      assert.ok(events <= 20 * 5, `${events} events`);
    } finally {
      await source.close();
    }
  });
});
