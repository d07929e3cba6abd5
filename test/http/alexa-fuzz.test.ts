import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { alexaSchemaErrors } from '../helpers/alexa-schema.ts';
import { MAX_SKEW_SEC, signatureHeaders } from '../../src/signing/signature.ts';
import { PROXY_SECRET, startBridge, type TestBridge } from '../helpers/bridge.ts';
import { directive, discoverDirective } from '../helpers/directives.ts';

/**
 * Property: whatever JSON reaches POST /alexa with a good signature, the answer is HTTP 200 and a
 * schema-valid Alexa message, and the server stays up.
 */

const sample = (path: string) => JSON.parse(readFileSync(new URL(`../alexa-schema/sample_messages/${path}`, import.meta.url), 'utf8'));

const realDirectives = [
  discoverDirective(),
  directive('Alexa', 'ReportState', { endpointId: 'demo' }),
  directive('Alexa', 'ReportState', { endpointId: 'nobody' }),
  directive('Alexa.RTCSessionController', 'InitiateSessionWithOffer', { endpointId: 'demo', payload: { sessionId: 's1', offer: { format: 'SDP', value: 'v=0' } } }),
  sample('Discovery/Discovery.request.json'),
  sample('StateReport/ReportState.json'),
  sample('Authorization/Authorization.AcceptGrant.request.json'),
  sample('CameraStreamController/CameraStreamController.request.json'),
];

type Path = Array<string | number>;

function pathsOf(value: unknown, prefix: Path = []): Path[] {
  if (value === null || typeof value !== 'object') return [prefix];
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  return [prefix, ...entries.flatMap(([key, child]) => pathsOf(child, [...prefix, key]))];
}

function mutate(base: unknown, pick: number, action: 'delete' | 'replace', replacement: unknown): unknown {
  const copy = structuredClone(base);
  const paths = pathsOf(copy);
  const path = paths[pick % paths.length]!;
  if (path.length === 0) return action === 'delete' ? {} : replacement;
  let parent: any = copy;
  for (const key of path.slice(0, -1)) parent = parent[key];
  const last = path.at(-1)!;
  if (action === 'delete' && !Array.isArray(parent)) delete parent[last];
  else parent[last] = replacement;
  return copy;
}

const mutation = fc
  .tuple(fc.constantFrom(...realDirectives), fc.array(fc.tuple(fc.nat(), fc.constantFrom('delete' as const, 'replace' as const), fc.jsonValue({ maxDepth: 2 })), { minLength: 1, maxLength: 4 }))
  .map(([base, ops]) => ops.reduce<unknown>((value, [pick, action, replacement]) => mutate(value, pick, action, replacement), base));

const strangeStrings = fc.oneof(fc.string(), fc.constantFrom('', ' ', '\u0000', '😀'.repeat(50), 'a'.repeat(300), 'Alexa', 'BearerToken', '3', '../../etc/passwd'));
const directiveLike = fc.record({
  directive: fc.record({
    header: fc.record({ namespace: strangeStrings, name: strangeStrings, messageId: strangeStrings, correlationToken: strangeStrings, payloadVersion: fc.constantFrom('3', '2', 3) }, { requiredKeys: [] }),
    endpoint: fc.record({ endpointId: strangeStrings, scope: fc.record({ type: strangeStrings, token: strangeStrings }, { requiredKeys: [] }) }, { requiredKeys: [] }),
    payload: fc.jsonValue({ maxDepth: 2 }),
  }, { requiredKeys: [] }),
});

let bridge: TestBridge;
before(async () => {
  bridge = await startBridge({ cameras: [{ id: 'demo', name: 'Demo Camera', url: `file:${DEMO_CLIP}` }] });
});
after(() => bridge.close());

test('10 000 signed random and mutated directives all get 200 and a schema-valid Alexa message', async () => {
  let runs = 0;
  let skipped = 0;
  // The same body signed in the same second is a replay (401); small bodies like `{}` recur
  // (about 250 times in 10 000 runs), so each repeat is signed one second before the last, from a
  // fixed start. Repeat r sent t seconds in is r + t seconds old, so r stays below the window
  // minus the time spent so far (and a margin); further repeats are skipped, not sent.
  const repeats = new Map<string, number>();
  const startSec = Math.floor(Date.now() / 1000);
  await fc.assert(
    fc.asyncProperty(fc.oneof({ weight: 5, arbitrary: mutation }, { weight: 3, arbitrary: directiveLike }, { weight: 2, arbitrary: fc.jsonValue() }), async (body) => {
      const raw = JSON.stringify(body) ?? 'null';
      const repeat = repeats.get(raw) ?? 0;
      const maxRepeats = MAX_SKEW_SEC - 30 - (Math.floor(Date.now() / 1000) - startSec);
      if (repeat >= maxRepeats) skipped += 1;
      fc.pre(repeat < maxRepeats);
      repeats.set(raw, repeat + 1);
      runs += 1;
      const timestamp = startSec - repeat;
      const { status, json, text } = await bridge.postAlexa(undefined, { raw, headers: signatureHeaders(PROXY_SECRET, raw, timestamp) });
      assert.equal(status, 200, text);
      const errors = alexaSchemaErrors(json);
      assert.deepEqual(errors, [], JSON.stringify({ body, reply: json }).slice(0, 2000));
    }),
    { numRuns: 10_000, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31) },
  );
  assert.ok(runs >= 10_000, `${runs} runs (${skipped} repeats skipped)`);
  const health = await fetch(`${bridge.url}/healthz`);
  assert.equal(health.status, 200);
});
