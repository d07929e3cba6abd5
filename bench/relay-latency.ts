/**
 * A directive's round trip as the skill Lambda sees it, through the relay (Lambda → MQTT 5 broker
 * over TLS → bridge → back) beside the HTTP proxy path (Lambda → POST /alexa), same bridge, same
 * run, calls interleaved so machine drift cancels. The broker is Debian's mosquitto with client
 * certificates and TCP_NODELAY, as docs/architecture.md describes; both proxies are the bundled Lambda's own
 * createProxy, each keeping its connection as a warm Lambda does.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildSkill } from '../skill/build.ts';
import { directive } from '../test/helpers/directives.ts';
import { startMosquitto } from '../test/fixtures/mosquitto.ts';
import { makePki } from '../test/fixtures/relay-pki.ts';
import { median, percentile } from './answer-latency.ts';
import { BENCH_PROXY_SECRET, startBridgeProcess } from './bridge-process.ts';

type Skill = typeof import('../skill/src/index.ts');

export interface RelayLatency {
  samples: number;
  http: { p50: number; p99: number };
  relay: { p50: number; p99: number };
  /** relay p50 − http p50, ms: what the relay adds. */
  addedP50Ms: number;
  failures: number;
}

const round = (n: number) => Math.round(n * 100) / 100;

export async function measureRelayRoundTrip(options: { samples: number; log: (line: string) => void }): Promise<RelayLatency> {
  const dir = mkdtempSync(join(tmpdir(), 'porchlight-bench-relay-'));
  const closers: Array<() => Promise<unknown>> = [];
  try {
    const pki = await makePki(dir, ['porchlight-home-bridge', 'skill']);
    const broker = await startMosquitto({ tls: { cafile: pki.ca.cert, certfile: pki.server.cert, keyfile: pki.server.key } });
    closers.push(() => broker.close());
    const bridgeCert = pki.clients['porchlight-home-bridge']!;
    const bridge = await startBridgeProcess({
      label: 'relay',
      config: {
        healthIntervalSec: 3600,
        relay: { url: broker.url, bridgeId: 'home', cert: bridgeCert.cert, key: bridgeCert.key, ca: pki.ca.cert },
        cameras: [{ id: 'door', name: 'Door', url: 'rtsp://127.0.0.1:9/none' }],
      },
    });
    closers.push(() => bridge.close());
    const skill = (await import(pathToFileURL((await buildSkill(join(dir, 'dist'))).bundle).href)) as Skill;
    const quiet = () => {};
    const http = skill.createProxy({ bridgeUrl: bridge.url, proxySecret: BENCH_PROXY_SECRET, allowInsecure: true, log: quiet });
    const relay = skill.createProxy({
      bridgeUrl: '',
      proxySecret: BENCH_PROXY_SECRET,
      log: quiet,
      relay: { url: broker.url, bridgeId: 'home', cert: readFileSync(pki.clients.skill!.cert, 'utf8'), key: readFileSync(pki.clients.skill!.key, 'utf8'), ca: readFileSync(pki.ca.cert, 'utf8') },
    });
    closers.push(() => http.close(), () => relay.close());
    const times = { http: [] as number[], relay: [] as number[] };
    let failures = 0;
    const once = async (which: 'http' | 'relay', record: boolean) => {
      const started = performance.now();
      const reply: any = await (which === 'http' ? http : relay).handle(directive('Alexa', 'ReportState', { endpointId: 'door' }));
      const ms = performance.now() - started;
      if (reply?.event?.header?.name !== 'StateReport') failures += 1;
      else if (record) times[which].push(ms);
    };
    // The bridge's relay connects in the background; warm both paths (connections, JIT) first.
    for (let i = 0; i < 10; i += 1) {
      await once('http', false);
      await once('relay', false).catch(() => {});
    }
    failures = 0;
    for (let i = 0; i < options.samples; i += 1) {
      const order = i % 2 === 0 ? (['http', 'relay'] as const) : (['relay', 'http'] as const);
      for (const which of order) await once(which, true);
    }
    const stats = (values: number[]) => ({ p50: round(median(values)), p99: round(percentile(values, 99)) });
    const result = { samples: options.samples, http: stats(times.http), relay: stats(times.relay), addedP50Ms: round(median(times.relay) - median(times.http)), failures };
    options.log(`  HTTP p50 ${result.http.p50} ms p99 ${result.http.p99} ms; relay p50 ${result.relay.p50} ms p99 ${result.relay.p99} ms (adds ${result.addedP50Ms} ms at the median)${failures ? `; ${failures} failed` : ''}`);
    return result;
  } finally {
    for (const close of closers.reverse()) await close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}
