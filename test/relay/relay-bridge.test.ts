/**
 * The bridge's side of the relay (issue 19) against a real broker: Debian's mosquitto with TLS,
 * client certificates required and MQTT 5. A stand-in for the skill Lambda (mqtt.js with its own
 * certificate) publishes signed directives with a responseTopic and correlationData; the bridge
 * must answer exactly what POST /alexa answers, signed, and must answer nothing that is unsigned,
 * forged, replayed or stale.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { RtpPacket } from 'werift';
import { signatureHeaders, signReply, SIGNATURE_HEADER, TIMESTAMP_HEADER, REPLY_SIGNATURE_HEADER } from '../../src/signing/signature.ts';
import { ADMIN_TOKEN, startBridge, PROXY_SECRET, type TestBridge } from '../helpers/bridge.ts';
import { directive, discoverDirective } from '../helpers/directives.ts';
import { echoViewer } from '../helpers/echo-offer.ts';
import { until } from '../helpers/until.ts';
import { startFakeCamera, type FakeCamera } from '../fixtures/fake-camera.ts';
import { startMosquitto, type Mosquitto } from '../fixtures/mosquitto.ts';
import { makePki, type Pki } from '../fixtures/relay-pki.ts';

const RTC = 'Alexa.RTCSessionController';
const BRIDGE_ID = 'home';
const SKILL_ID = 'porchlight-home-skill-test';
const REPLIES = `porchlight/${BRIDGE_ID}/replies/${SKILL_ID}`;
const DIRECTIVES = `porchlight/${BRIDGE_ID}/directives`;

interface Asked {
  reply?: any;
  signatureOk?: boolean;
}

/** The skill Lambda's part, by hand: a signed directive out, the reply matched by correlationData. */
class SkillStandIn {
  readonly client: MqttClient;
  readonly #waiting = new Map<string, (reply: { text: string; signature: string | undefined }) => void>();
  #next = 0;

  constructor(url: string, pki: Pki, clientName: string) {
    const { cert, key } = pki.clients[clientName]!;
    this.client = mqtt.connect(url, { protocolVersion: 5, clientId: clientName, cert: readFileSync(cert), key: readFileSync(key), ca: readFileSync(pki.ca.cert), reconnectPeriod: 300, connectTimeout: 5000 });
    this.client.on('message', (_topic, payload, packet) => {
      const id = packet.properties?.correlationData?.toString();
      const signature = packet.properties?.userProperties?.[REPLY_SIGNATURE_HEADER];
      if (id) this.#waiting.get(id)?.({ text: payload.toString(), signature: Array.isArray(signature) ? signature[0] : signature });
    });
  }

  async ready(): Promise<void> {
    await until('the skill stand-in connected', () => this.client.connected, 10_000);
    await this.client.subscribeAsync(REPLIES, { qos: 1 });
  }

  /** Publishes body (signed with `secret` at `at` unless given headers) and waits up to waitMs for its reply. */
  async ask(body: unknown, options: { secret?: string; at?: number; headers?: Record<string, string>; waitMs?: number; responseTopic?: string | null } = {}): Promise<Asked & { headers: Record<string, string> }> {
    const raw = JSON.stringify(body);
    const headers = options.headers ?? signatureHeaders(options.secret ?? PROXY_SECRET, raw, options.at);
    const id = `c-${this.#next++}`;
    const replied = new Promise<{ text: string; signature: string | undefined } | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), options.waitMs ?? 5000);
      this.#waiting.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
    });
    await this.client.publishAsync(DIRECTIVES, raw, {
      qos: 1,
      properties: {
        ...(options.responseTopic !== null && { responseTopic: options.responseTopic ?? REPLIES }),
        correlationData: Buffer.from(id),
        userProperties: { [TIMESTAMP_HEADER]: headers[TIMESTAMP_HEADER]!, [SIGNATURE_HEADER]: headers[SIGNATURE_HEADER]! },
      },
    });
    const reply = await replied;
    this.#waiting.delete(id);
    if (!reply) return { headers };
    const mac = headers[SIGNATURE_HEADER]!.slice(3);
    return { headers, reply: JSON.parse(reply.text), signatureOk: reply.signature === signReply(PROXY_SECRET, mac, reply.text) };
  }

  close(): Promise<void> {
    return this.client.endAsync(true);
  }
}

/** Alexa messages minus what differs from one directive or moment to the next (ids, tokens, times). */
function comparable(event: any): unknown {
  return JSON.parse(JSON.stringify(event, (key, value) => (['messageId', 'correlationToken', 'timeOfSample', 'uncertaintyInMilliseconds'].includes(key) ? '·' : value)));
}

describe('relay: the bridge answers directives that come through an MQTT 5 broker', () => {
  const dir = mkdtempSync(join(tmpdir(), 'porchlight-relay-'));
  let pki: Pki;
  let broker: Mosquitto;
  let camera: FakeCamera;
  let bridge: TestBridge;
  let skill: SkillStandIn;
  let intruder: SkillStandIn;

  before(async () => {
    pki = await makePki(dir, [SKILL_ID, `porchlight-${BRIDGE_ID}-bridge`, 'intruder']);
    broker = await startMosquitto({ tls: { cafile: pki.ca.cert, certfile: pki.server.cert, keyfile: pki.server.key } });
    camera = await startFakeCamera({ fps: 15, gop: 1 });
    const bridgeCert = pki.clients[`porchlight-${BRIDGE_ID}-bridge`]!;
    bridge = await startBridge({
      webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: '43700-43719' },
      relay: { url: broker.url, bridgeId: BRIDGE_ID, cert: bridgeCert.cert, key: bridgeCert.key, ca: pki.ca.cert },
      cameras: [{ id: 'door', name: 'Front Door', kind: 'doorbell', url: camera.url }],
    }, { app: { relayRetry: { initialMs: 200, maxMs: 1000 } } });
    skill = new SkillStandIn(broker.url, pki, SKILL_ID);
    intruder = new SkillStandIn(broker.url, pki, 'intruder');
    await Promise.all([skill.ready(), intruder.ready()]);
    await until('the relay connected', () => bridge.app.relay?.status().state === 'connected', 10_000);
  });
  after(async () => {
    await Promise.all([skill?.close(), intruder?.close()]);
    await bridge?.close();
    await Promise.all([camera?.close(), broker?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('Discover, ReportState and SessionDisconnected: the same answers as POST /alexa, signed by the bridge', async () => {
    const makers = [
      () => discoverDirective(),
      () => directive('Alexa', 'ReportState', { endpointId: 'door' }),
      () => directive(RTC, 'SessionDisconnected', { endpointId: 'door', payload: { sessionId: 'never-opened' } }),
    ];
    for (const make of makers) {
      const body = make();
      const relayed = await skill.ask(body);
      assert.ok(relayed.reply, `no reply to ${body.directive.header.name}`);
      assert.equal(relayed.signatureOk, true, 'the reply carries the bridge\'s signature over its bytes, bound to the request');
      // A directive of its own (the same bytes would be a replay: both transports share one guard).
      const { json: direct } = await bridge.postAlexa(make());
      assert.deepEqual(comparable(relayed.reply), comparable(direct));
    }
  });

  test('a live session through the relay: the viewer decodes video', async () => {
    const viewer = await echoViewer();
    try {
      const { reply } = await skill.ask(directive(RTC, 'InitiateSessionWithOffer', { endpointId: 'door', payload: { sessionId: 'relay-live', offer: { format: 'SDP', value: viewer.offer } } }));
      assert.equal(reply?.event.header.name, 'AnswerGeneratedForSession', JSON.stringify(reply?.event.payload));
      let packets = 0;
      await viewer.pc.setRemoteDescription({ type: 'answer', sdp: reply.event.payload.answer.value });
      viewer.pc.getTransceivers().find((t) => t.kind === 'video')!.receiver.track.onReceiveRtp.subscribe((_rtp: RtpPacket) => { packets += 1; });
      await until('video through a relayed session', () => packets >= 20, 15_000);
      const { reply: bye } = await skill.ask(directive(RTC, 'SessionDisconnected', { endpointId: 'door', payload: { sessionId: 'relay-live' } }));
      assert.ok(bye, 'SessionDisconnected answered');
      await until('the session ended', () => bridge.app.sessions.size === 0, 5000);
    } finally {
      await viewer.pc.close();
    }
  });

  test('forged, replayed, stale or reply-less directives get nothing, and are counted', async () => {
    const refusedBefore = bridge.app.relay!.status().refused;
    const body = directive('Alexa', 'ReportState', { endpointId: 'door' });
    const forged = await intruder.ask(body, { secret: 'not-the-proxy-secret-0123456789abcdef', waitMs: 1500 });
    assert.equal(forged.reply, undefined, 'a directive signed with another secret is not answered');
    const first = await skill.ask(body);
    assert.ok(first.reply, 'the genuine directive is answered');
    const replayed = await intruder.ask(body, { headers: first.headers, waitMs: 1500 });
    assert.equal(replayed.reply, undefined, 'the same signed message again is a replay');
    const stale = await skill.ask(body, { at: Math.floor(Date.now() / 1000) - 400, waitMs: 1500 });
    assert.equal(stale.reply, undefined, 'a directive older than the 300 s window is dropped, never answered late');
    const elsewhere = await intruder.ask(body, { responseTopic: 'somewhere/else', waitMs: 1500 });
    assert.equal(elsewhere.reply, undefined);
    assert.equal(bridge.app.relay!.status().refused - refusedBefore, 4);
    // The HTTP path shares the replay guard: the relayed signature cannot be used there either.
    const { status } = await bridge.postAlexa(body, { headers: first.headers });
    assert.equal(status, 401);
  });

  test('a 1 MB publish to the directive topic never reaches the bridge (before: held whole in memory, then refused as too large)', async () => {
    const refusedBefore = bridge.app.relay!.status().refused;
    await intruder.client.publishAsync(DIRECTIVES, Buffer.alloc(1024 * 1024, 'x'), { qos: 1, properties: { responseTopic: REPLIES, correlationData: Buffer.from('big') } });
    const after = await skill.ask(directive('Alexa', 'ReportState', { endpointId: 'door' }));
    assert.ok(after.reply, 'the relay still answers');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(bridge.app.relay!.status().refused, refusedBefore, 'the broker dropped it: nothing to refuse');
    assert.equal(bridge.app.relay!.status().state, 'connected');
  });

  test('the broker restarts: the bridge reconnects and answers within 10 s of it being back', async () => {
    await broker.stop();
    await until('the relay saw the broker go', () => bridge.app.relay!.status().state !== 'connected', 5000);
    await broker.start();
    const back = Date.now();
    await skill.ready();
    await until('the relay reconnected', () => bridge.app.relay!.status().state === 'connected', 10_000);
    const { reply } = await skill.ask(directive('Alexa', 'ReportState', { endpointId: 'door' }));
    assert.equal(reply?.event.header.name, 'StateReport');
    assert.ok(Date.now() - back < 10_000, `answered ${Date.now() - back} ms after the broker came back`);
  });

  test('relay state in /metrics, /readyz and the console; no key, secret or certificate in the log', async () => {
    const metrics = await (await fetch(`${bridge.url}/metrics`)).text();
    assert.match(metrics, /^porchlight_relay_connected 1$/m);
    assert.match(metrics, /^porchlight_relay_directives_total\{result="served"\} [1-9]/m);
    assert.match(metrics, /^porchlight_relay_directives_total\{result="refused"\} [1-9]/m);
    const readiness = bridge.app.readiness();
    assert.equal((readiness.checks as any).relay?.state, 'connected');
    const shown: any = await (await fetch(`${bridge.url}/api/status`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
    assert.equal(shown.relay.state, 'connected', 'the console shows the relay');
    assert.ok(shown.relay.served > 0 && shown.relay.refused > 0);
    const log = bridge.logText();
    assert.match(log, /relay connected/);
    assert.doesNotMatch(log, /BEGIN (EC )?PRIVATE KEY|BEGIN CERTIFICATE/);
    assert.ok(!log.includes(PROXY_SECRET));
  });
});
