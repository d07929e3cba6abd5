import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { startBridge, type TestBridge } from '../helpers/bridge.ts';
import { directive } from '../helpers/directives.ts';
import { echoViewer } from '../helpers/echo-offer.ts';

/** Prometheus text exposition format 0.0.4, strictly: every sample line must parse. */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') {
        assert.match(meta[3]!, /^(counter|gauge|histogram|summary|untyped)$/, line);
        typed.add(meta[2]!);
      }
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/i.exec(line); // Prometheus reads NaN/Inf in any case (Go's ParseFloat)
    assert.ok(sample, `not a Prometheus sample line: ${line}`);
    assert.ok([...typed].some((name) => sample[1]!.startsWith(name)), `sample before its # TYPE: ${line}`);
    samples.set(`${sample[1]}${sample[2] ?? ''}`, Number(sample[3]));
  }
  return samples;
}

let bridge: TestBridge;
before(async () => {
  bridge = await startBridge({ webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: '42400-42450' }, cameras: [{ id: 'demo', name: 'Demo', url: `file:${DEMO_CLIP}` }] });
});
after(() => bridge.close());

async function scrape(): Promise<Map<string, number>> {
  const response = await fetch(`${bridge.url}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await response.text());
}

test('/metrics parses as Prometheus text and moves when a session runs', async () => {
  const idle = await scrape();
  assert.equal(idle.get('porchlight_sessions_active'), 0);
  assert.equal(idle.get('porchlight_answer_seconds_count'), 0);
  assert.ok(idle.has('porchlight_process_resident_memory_bytes'));

  const viewer = await echoViewer();
  try {
    const RTC = 'Alexa.RTCSessionController';
    const { json } = await bridge.postAlexa(directive(RTC, 'InitiateSessionWithOffer', { endpointId: 'demo', payload: { sessionId: 'm-1', offer: { format: 'SDP', value: viewer.offer } } }));
    await viewer.pc.setRemoteDescription({ type: 'answer', sdp: json.event.payload.answer.value });
    let live = await scrape();
    for (let waited = 0; (live.get('porchlight_first_media_seconds_count') ?? 0) < 1 && waited < 10_000; waited += 200) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      live = await scrape();
    }
    assert.equal(live.get('porchlight_sessions_active'), 1);
    assert.equal(live.get('porchlight_answer_seconds_count'), 1);
    assert.equal(live.get('porchlight_first_media_seconds_count'), 1);
    assert.ok(live.get('porchlight_rtp_packets_total{camera="demo",kind="video"}')! > 0);
    assert.ok(live.get('porchlight_rtp_bytes_total{camera="demo",kind="audio"}')! > 0);
    assert.equal(live.get('porchlight_ffmpeg_starts_total{camera="demo"}'), 1);
    assert.equal(live.get('porchlight_camera_up{camera="demo"}'), 1);

    await bridge.postAlexa(directive(RTC, 'SessionDisconnected', { endpointId: 'demo', payload: { sessionId: 'm-1' } }));
    const ended = await scrape();
    assert.equal(ended.get('porchlight_sessions_active'), 0);
    assert.equal(ended.get('porchlight_sessions_total{outcome="disconnected"}'), 1);
    const refused = await bridge.postAlexa(directive(RTC, 'InitiateSessionWithOffer', { endpointId: 'demo', payload: { sessionId: 'm-2', offer: { format: 'SDP', value: 'not sdp' } } }));
    assert.equal(refused.json.event.payload.type, 'INVALID_VALUE');
    assert.equal((await scrape()).get('porchlight_sessions_total{outcome="refused_bad_offer"}'), 1);
  } finally {
    await viewer.pc.close();
  }
});
