/**
 * Issue 14 with real parts in network namespaces (test/helpers/netns.ts): the bridge (this
 * process, root namespace) behind one NAT, an Echo-shaped werift viewer (test/fixtures/
 * nat-viewer.ts, run with `ip netns exec`) behind another, Debian's coturn as STUN/TURN in the
 * "public" namespace between them. Nothing is ever sent outside loopback and these namespaces.
 *
 * - no ICE servers: the session ends `ice-failed`, explained in the log, the console and /metrics;
 * - STUN, both NATs keeping ports (cone): the srflx path connects;
 * - TURN (UDP, then TCP), the bridge's NAT symmetric: only the relay connects, and video flows;
 * - TURN/STUN host down: the answer still comes within the gather slice; the log names the host.
 * The TURN credential is checked absent from the log, /readyz, /api/status and /metrics.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { candidateTypes } from '../../src/webrtc/ice-diagnosis.ts';
import { ADMIN_TOKEN, startBridge, type TestBridge } from '../helpers/bridge.ts';
import { coturnInstalled, startCoturn, type Coturn } from '../helpers/coturn.ts';
import { directive } from '../helpers/directives.ts';
import { buildNatTopology, namespacesForbidden, type NatTopology } from '../helpers/netns.ts';
import { until } from '../helpers/until.ts';

const RTC = 'Alexa.RTCSessionController';
const VIEWER = fileURLToPath(new URL('../fixtures/nat-viewer.ts', import.meta.url));
const forbidden = namespacesForbidden();

interface Viewer {
  offer: string;
  messages: any[];
  /** The first message `pick` accepts, waited for at most `ms`. */
  next<T>(what: string, pick: (message: any) => T | undefined, ms: number): Promise<T>;
  answer(sdp: string): void;
  close(): Promise<void>;
}

describe('Echo behind a NAT, bridge on another network (namespaces, coturn)', { skip: forbidden ?? false }, () => {
  let topology: NatTopology | undefined;
  let coturn: Coturn | undefined;
  const viewers: Viewer[] = [];
  const bridges: TestBridge[] = [];

  before(async () => {
    assert.ok(coturnInstalled(), 'Debian coturn (turnserver) is not installed: scripts/setup.sh --test installs it');
    topology = buildNatTopology();
    coturn = await startCoturn({ netns: topology.ns.public, listenIp: topology.publicIp, port: 3478, relayPorts: [49152, 49251] });
  });

  after(async () => {
    for (const viewer of viewers) await viewer.close();
    for (const bridge of bridges.splice(0)) await bridge.close();
    await coturn?.stop();
    topology?.destroy();
  });

  const net = () => topology!;
  const stunUrl = () => `stun:${net().publicIp}:3478`;
  const turn = (query = '') => ({ urls: `turn:${net().publicIp}:3478${query}`, username: coturn!.username, credential: coturn!.credential });

  async function bridgeWith(iceServers: unknown[], udpPorts: string): Promise<TestBridge> {
    const bridge = await startBridge({
      lingerSec: 1,
      webrtc: { hostAddresses: [net().bridgeIp], udpPorts, iceServers, answerTimeoutMs: 5000, connectTimeoutSec: 5 },
      cameras: [{ id: 'door', name: 'Front Door', url: `file:${DEMO_CLIP}`, preload: true }],
    });
    bridges.push(bridge);
    return bridge;
  }

  async function closeBridge(bridge: TestBridge): Promise<void> {
    const index = bridges.indexOf(bridge);
    if (index >= 0) bridges.splice(index, 1);
    await bridge.close();
  }

  async function startViewer(stun: string | undefined): Promise<Viewer> {
    const child: ChildProcess = spawn('ip', ['netns', 'exec', net().ns.viewer, process.execPath, VIEWER, net().viewerIp, ...(stun ? [stun] : [])], { stdio: ['pipe', 'pipe', 'pipe'] });
    const messages: any[] = [];
    const waiters = new Set<() => void>();
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      messages.push(JSON.parse(line));
      for (const wake of waiters) wake();
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const next = <T>(what: string, pick: (message: any) => T | undefined, ms: number) => new Promise<T>((resolve, reject) => {
      const check = () => {
        for (const message of messages) {
          const picked = pick(message);
          if (picked !== undefined) return done(() => resolve(picked));
        }
        if (child.exitCode !== null) done(() => reject(new Error(`the viewer exited (${child.exitCode}) before ${what}: ${stderr}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${ms} ms waiting for the viewer's ${what}; it said ${JSON.stringify(messages.slice(-5))} ${stderr}`))), ms);
      const done = (settle: () => void) => {
        clearTimeout(timer);
        waiters.delete(check);
        settle();
      };
      waiters.add(check);
      child.once('exit', check);
      check();
    });
    let closed = false;
    const viewer: Viewer = {
      offer: '',
      messages,
      next,
      answer: (sdp) => child.stdin!.write(`${JSON.stringify({ answer: sdp })}\n`),
      async close() {
        if (closed) return;
        closed = true;
        child.stdin!.end();
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        if (child.exitCode === null && child.signalCode === null) await exited;
        clearTimeout(timer);
      },
    };
    viewers.push(viewer);
    viewer.offer = await next('offer', (m) => m.offer as string | undefined, 15_000);
    return viewer;
  }

  async function offer(bridge: TestBridge, sessionId: string, sdp: string): Promise<{ answer: string; ms: number }> {
    const started = performance.now();
    const { json } = await bridge.postAlexa(directive(RTC, 'InitiateSessionWithOffer', { endpointId: 'door', payload: { sessionId, offer: { format: 'SDP', value: sdp } } }));
    const ms = performance.now() - started;
    assert.equal(json.event.header.name, 'AnswerGeneratedForSession', JSON.stringify(json.event.payload));
    return { answer: json.event.payload.answer.value as string, ms };
  }

  async function get(bridge: TestBridge, path: string): Promise<string> {
    return (await fetch(`${bridge.url}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  }

  /** Connects a viewer (with its own STUN) to a bridge; returns the answer and the viewer's selected pair. */
  async function watch(bridge: TestBridge, sessionId: string) {
    const viewer = await startViewer(stunUrl());
    const { answer, ms } = await offer(bridge, sessionId, viewer.offer);
    viewer.answer(answer);
    const pair = await viewer.next('selected pair', (m) => m.pair as { local: string; remote: string; remoteNetwork: string } | undefined, 8000);
    const video = await viewer.next('video with a keyframe', (m) => (m.video >= 30 && m.keyframe ? m.video as number : undefined), 8000);
    return { viewer, answer, ms, pair, video };
  }

  test('no ICE servers: the session fails within connectTimeoutSec as ice-failed, explained in the log, the console and /metrics', async () => {
    const bridge = await bridgeWith([], '45700-45719');
    const viewer = await startViewer(stunUrl());
    const { answer } = await offer(bridge, 'no-servers', viewer.offer);
    assert.deepEqual([...candidateTypes(answer)], ['host']);
    viewer.answer(answer);
    const ended = await until('the session to end', async () => JSON.parse(await get(bridge, '/api/status')).ended?.[0], 8000, 100);
    assert.equal(ended.outcome, 'ice-failed');
    // The viewer's offer is Echo-shaped: component-2 and TCP candidates beside its UDP host and srflx.
    assert.match(ended.detail, /^ICE failed: no candidate pair succeeded \(\d+ checked\)\. porchlight offered host\/udp private; the viewer offered host\/udp private ×2, host\/tcp private, srflx\/udp private\. Hint: .*add a TURN server/);
    assert.ok(!viewer.messages.some((m) => m.state === 'connected'));
    const log = bridge.logText();
    const warning = log.split('\n').find((line) => line.includes('"reason":"ice-failed"') && line.includes('"level":"warn"'));
    assert.ok(warning?.includes('add a TURN server'), 'the log explains the failure');
    assert.ok(!warning!.includes(net().viewerIp) && !warning!.includes(net().viewerNatIp), 'a viewer address at warn');
    assert.match(await get(bridge, '/metrics'), /porchlight_sessions_total\{outcome="ice_failed"\} 1/);
    await viewer.close();
    await closeBridge(bridge);
  });

  test('STUN, both NATs keeping ports: the answer carries srflx and the viewer connects to it', async () => {
    const bridge = await bridgeWith([{ urls: stunUrl() }], '45720-45739');
    const { answer, pair, video, viewer } = await watch(bridge, 'stun');
    assert.deepEqual([...candidateTypes(answer)].sort(), ['host', 'srflx']);
    assert.ok(answer.includes(` ${net().bridgeNatIp} `), 'the srflx candidate is the bridge NAT\'s address');
    assert.equal(pair.remote, 'srflx', `the viewer selected ${JSON.stringify(pair)}`);
    assert.ok(video >= 30);
    await viewer.close();
    await closeBridge(bridge);
  });

  for (const transport of ['udp', 'tcp'] as const) {
    test(`TURN over ${transport}, the bridge's NAT symmetric: host + srflx + relay, the relay connects and video flows`, async () => {
      net().setBridgeNat('symmetric');
      try {
        const bridge = await bridgeWith([{ urls: stunUrl() }, turn(transport === 'tcp' ? '?transport=tcp' : '')], transport === 'udp' ? '45740-45759' : '45760-45779');
        const { answer, pair, video, viewer } = await watch(bridge, `turn-${transport}`);
        assert.deepEqual([...candidateTypes(answer)].sort(), ['host', 'relay', 'srflx']);
        assert.equal(pair.remote, 'relay', `the viewer selected ${JSON.stringify(pair)}`);
        assert.ok(video >= 30);
        for (const text of [bridge.logText(), await get(bridge, '/readyz'), await get(bridge, '/api/status'), await get(bridge, '/metrics')]) {
          assert.ok(!text.includes(coturn!.credential), 'the TURN credential leaked');
        }
        await viewer.close();
        await closeBridge(bridge);
      } finally {
        net().setBridgeNat('cone');
      }
    });
  }

  test('Docker bridge networking: hostAddresses names the host\'s address, the published UDP range carries the media', async () => {
    const unpublish = net().publishUdp([45800, 45819]);
    try {
      const bridge = await startBridge({
        lingerSec: 1,
        // The address the "host" (the bridge NAT) has on the viewer's side; not one of this process's.
        webrtc: { hostAddresses: [net().bridgeNatIp], udpPorts: '45800-45819', answerTimeoutMs: 5000, connectTimeoutSec: 5 },
        cameras: [{ id: 'door', name: 'Front Door', url: `file:${DEMO_CLIP}`, preload: true }],
      });
      bridges.push(bridge);
      const viewer = await startViewer(undefined);
      const { answer } = await offer(bridge, 'docker-bridge', viewer.offer);
      assert.match(answer, new RegExp(`a=candidate:\\S+ 1 udp \\d+ ${net().bridgeNatIp.replace(/\./g, '\\.')} 458(0\\d|1\\d) typ host`));
      viewer.answer(answer);
      const pair = await viewer.next('selected pair', (m) => m.pair as { remote: string } | undefined, 8000);
      assert.equal(pair.remote, 'host');
      await viewer.next('video with a keyframe', (m) => (m.video >= 30 && m.keyframe ? true : undefined), 8000);
      await viewer.close();
      await closeBridge(bridge);
    } finally {
      unpublish();
    }
  });

  test('STUN/TURN host down: the answer still comes within the gather slice, and the log names the host, never the credential', async () => {
    const dead = net().deadIp;
    const bridge = await bridgeWith([{ urls: `stun:${dead}:3478` }, { urls: `turn:${dead}:3478`, username: 'porchlight', credential: coturn!.credential }], '45780-45799');
    const viewer = await startViewer(undefined);
    const { answer, ms } = await offer(bridge, 'dead-servers', viewer.offer);
    // The gather slice is 2 s of answerTimeoutMs 5000; unpatched werift needed 6.35 s + the TCP fallback.
    assert.ok(ms < 3500, `answered after ${Math.round(ms)} ms`);
    assert.deepEqual([...candidateTypes(answer)], ['host']);
    const log = bridge.logText();
    assert.match(log, new RegExp(`TURN server turn:${dead.replace(/\./g, '\\.')}:3478 gave no relay candidate within 2000 ms`));
    assert.match(log, new RegExp(`"host":"${dead.replace(/\./g, '\\.')}"`));
    assert.ok(!log.includes(coturn!.credential), 'the TURN credential reached the log');
    await viewer.close();
    await closeBridge(bridge);
  });
});
