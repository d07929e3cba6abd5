import { afterEach, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import {
  DEFAULT_API_URL,
  DEFAULT_TIMEOUT_MS,
  retryDelayMs,
  runDiscoverySession,
  type DiscoverySessionOptions,
} from '../../src/cloud/discovery-session.ts';
import { discoverySessionCli, parseDiscoverySessionArgs } from '../../src/cloud/discovery-session-cli.ts';
import { virtualClock } from '../helpers/virtual-clock.ts';
import { startFakeDiscoverySessions, type FakeDiscoverySessions } from '../fixtures/fake-discovery-sessions.ts';

const UNIT = 'amzn1.alexa.unit.did.AHXYZ/room 12';
const SKILL = 'amzn1.ask.skill.11111111-2222-3333-4444-555555555555';
const TOKEN = 'Atza|IwEBIsecret-token-0123456789';

function cli(fake: FakeDiscoverySessions, extraArgs: string[] = [], env: NodeJS.ProcessEnv = { ALEXA_ACCESS_TOKEN: TOKEN }) {
  const clock = virtualClock();
  const stdout: string[] = [];
  const stderr: string[] = [];
  const argv = ['discovery-session', '--unit', UNIT, '--skill-id', SKILL, '--api-url', fake.url, ...extraArgs];
  const run = discoverySessionCli(argv, {
    env,
    stdout: (s) => stdout.push(s),
    stderr: (s) => stderr.push(s),
    sleep: clock.sleep,
    now: clock.now,
  });
  return run.then((code) => ({ code, stdout: stdout.join(''), stderr: stderr.join(''), sleeps: clock.sleeps }));
}

function options(fake: FakeDiscoverySessions, extra: Partial<DiscoverySessionOptions> = {}) {
  const clock = virtualClock();
  const lines: string[] = [];
  const opts: DiscoverySessionOptions = {
    unit: UNIT, skillId: SKILL, stage: 'LIVE', apiUrl: fake.url, token: TOKEN,
    sleep: clock.sleep, now: clock.now, log: (line) => lines.push(line), ...extra,
  };
  return { opts, clock, lines };
}

describe('discovery session against the fake API', () => {
  let fake: FakeDiscoverySessions;
  beforeEach(async () => {
    fake = await startFakeDiscoverySessions();
  });
  afterEach(() => fake.close());

  test('IN_PROGRESS then SUCCESS: exit 0, the documented request, polls the Location every 2 s', async () => {
    const { code, stdout, stderr, sleeps } = await cli(fake);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /amzn1\.alexa\.discoverySession\.fake-1 .*SUCCESS/);
    assert.match(stderr, /IN_PROGRESS/);
    assert.deepEqual(sleeps, [2000, 2000]);

    const [post, ...gets] = fake.requests;
    assert.equal(post!.method, 'POST');
    assert.equal(post!.url, `/v1/discoverySessions?unit=${encodeURIComponent(UNIT)}`);
    assert.equal(new URL(post!.url, 'http://x').searchParams.get('unit'), UNIT);
    assert.deepEqual(post!.body, { endpointReporter: { type: 'SKILL', value: { skillId: SKILL, skillStage: 'LIVE' } } });
    assert.equal(post!.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(post!.headers['content-type'], 'application/json');
    assert.equal(post!.headers.accept, 'application/json');
    assert.deepEqual(gets.map((r) => `${r.method} ${r.url}`), Array(3).fill('GET /v1/discoverySessions/amzn1.alexa.discoverySession.fake-1'));
    for (const get of gets) assert.equal(get.headers.authorization, `Bearer ${TOKEN}`);
  });

  test('--stage DEVELOPMENT is sent as skillStage', async () => {
    const { code } = await cli(fake, ['--stage', 'development']);
    assert.equal(code, 0);
    assert.deepEqual(fake.requests[0]!.body, { endpointReporter: { type: 'SKILL', value: { skillId: SKILL, skillStage: 'DEVELOPMENT' } } });
  });

  test('a quoted relative Location (as in the docs) and an absolute one are both followed', async () => {
    fake.script([{ method: 'POST', status: 202, headers: { location: '"/v1/discoverySessions/amzn1.alexa.discoverySession.quoted"' } }]);
    const first = await runDiscoverySession(options(fake).opts);
    assert.deepEqual(first.status === 'SUCCESS' && first.sessionId, 'amzn1.alexa.discoverySession.quoted');

    fake.script([{ method: 'POST', status: 201, headers: { location: `${fake.url}/v1/discoverySessions/amzn1.alexa.discoverySession.abs` } }]);
    const second = await runDiscoverySession(options(fake).opts);
    assert.deepEqual(second.status === 'SUCCESS' && second.sessionId, 'amzn1.alexa.discoverySession.abs');
    assert.ok(fake.requests.some((r) => r.url === '/v1/discoverySessions/amzn1.alexa.discoverySession.abs'));
  });

  test('polling honours Retry-After', async () => {
    fake.script([{ method: 'GET', status: 200, body: { status: 'IN_PROGRESS' }, headers: { 'retry-after': '5' } }]);
    const { opts, clock } = options(fake);
    const result = await runDiscoverySession(opts);
    assert.equal(result.status, 'SUCCESS');
    assert.deepEqual(clock.sleeps, [5000, 2000, 2000]);
  });

  test('FAILURE status: exit 1 with Alexa\'s message', async () => {
    fake.script([{ method: 'GET', status: 200, body: { id: 'x', status: 'FAILURE', message: 'Skill did not respond to Discover' } }]);
    const { code, stdout, stderr } = await cli(fake);
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.match(stderr, /FAILED/);
    assert.match(stderr, /Skill did not respond to Discover/);

    fake.script([{ method: 'GET', status: 200, body: { status: 'FAILED', failureReason: 'Endpoint limit exceeded' } }]);
    const result = await runDiscoverySession(options(fake).opts);
    assert.equal(result.status, 'FAILURE');
    assert.equal(result.status === 'FAILURE' && result.code, 'FAILED');
    assert.equal(result.status === 'FAILURE' && result.sessionId, 'amzn1.alexa.discoverySession.fake-2');
    assert.match(result.status === 'FAILURE' ? result.reason : '', /Endpoint limit exceeded/);
  });

  test('409: the session in progress is named, with what to do; not retried', async () => {
    fake.script([{
      method: 'POST', status: 409,
      body: { message: 'A discovery session is already in progress for unit', id: 'amzn1.alexa.discoverySession.running-7' },
    }]);
    const { code, stderr, sleeps } = await cli(fake);
    assert.equal(code, 1);
    assert.match(stderr, /\(CONFLICT\).*\(HTTP 409: A discovery session is already in progress for unit\)/);
    assert.match(stderr, /amzn1\.alexa\.discoverySession\.running-7/);
    assert.match(stderr, /[Ww]ait for it to finish.*run this command again/);
    assert.deepEqual(sleeps, []);
    assert.equal(fake.requests.length, 1);

    // Without an id field, one named in the message is still found.
    fake.script([{ method: 'POST', status: 409, body: { message: 'Session amzn1.alexa.discoverySession.other-3 is IN_PROGRESS' } }]);
    const result = await runDiscoverySession(options(fake).opts);
    assert.equal(result.status === 'FAILURE' && result.sessionId, 'amzn1.alexa.discoverySession.other-3');
  });

  test('429 then success: retried after 1 s', async () => {
    fake.script([{ method: 'POST', status: 429, body: { message: 'Rate exceeded' } }]);
    const { code, stderr, sleeps } = await cli(fake);
    assert.equal(code, 0, stderr);
    assert.equal(sleeps[0], 1000);
    assert.match(stderr, /429.*Rate exceeded.*retrying in 1 s/);
    assert.equal(fake.requests.filter((r) => r.method === 'POST').length, 2);
  });

  test('a longer Retry-After on 429 wins over the backoff', async () => {
    fake.script([{ method: 'POST', status: 429, headers: { 'retry-after': '7' } }]);
    const { opts, clock } = options(fake);
    assert.equal((await runDiscoverySession(opts)).status, 'SUCCESS');
    assert.equal(clock.sleeps[0], 7000);
  });

  test('500 twice then success: 1 s, 2 s; a 500 while polling is retried too', async () => {
    fake.script([{ method: 'POST', status: 500, body: { message: 'Internal failure' }, times: 2 }]);
    const { code, sleeps } = await cli(fake);
    assert.equal(code, 0);
    assert.deepEqual(sleeps, [1000, 2000, 2000, 2000]);

    fake.script([{ method: 'GET', status: 500, times: 3 }]);
    const { opts, clock } = options(fake);
    assert.equal((await runDiscoverySession(opts)).status, 'SUCCESS');
    assert.deepEqual(clock.sleeps, [1000, 2000, 4000, 2000, 2000]);
  });

  for (const [status, code, message, hint] of [
    [400, 'BAD_REQUEST', 'Invalid unit id format', /--unit/],
    [401, 'UNAUTHORIZED', 'The access token is expired', /fresh Login with Amazon access token/],
    [403, 'FORBIDDEN', 'Caller is not authorized for this unit', /organization that owns the unit/],
    [404, 'NOT_FOUND', 'Unit not found', /--api-url/],
    [503, 'UNAVAILABLE', 'Service not available in this region', /try again later/i],
  ] as const) {
    test(`${status} → ${code} with Amazon's message, not retried`, async () => {
      fake.script([{ method: 'POST', status, body: { message }, headers: { 'x-amzn-requestid': 'REQ123' } }]);
      const { code: exit, stderr, stdout, sleeps } = await cli(fake);
      assert.equal(exit, 1);
      assert.equal(stdout, '');
      assert.ok(stderr.includes(`(${code}): `), stderr);
      assert.ok(stderr.includes(`(HTTP ${status}: ${message})`), stderr);
      assert.match(stderr, hint);
      assert.match(stderr, /REQ123/);
      assert.deepEqual(sleeps, []);
      assert.equal(fake.requests.length, 1);
    });
  }

  test('other error body shapes still yield Amazon\'s words', async () => {
    fake.script([{ method: 'POST', status: 403, body: { error: { code: 'ACCESS_DENIED', message: 'Token lacks scope' } } }]);
    const nested = await runDiscoverySession(options(fake).opts);
    assert.match(nested.status === 'FAILURE' ? nested.reason : '', /Token lacks scope/);

    fake.script([{ method: 'POST', status: 400, body: 'unit must not be blank', headers: { 'content-type': 'text/plain' } }]);
    const plain = await runDiscoverySession(options(fake).opts);
    assert.match(plain.status === 'FAILURE' ? plain.reason : '', /unit must not be blank/);
  });

  test('a 404 while polling says the session is gone', async () => {
    fake.script([{ method: 'GET', status: 404, body: { message: 'Discovery session not found' } }]);
    const result = await runDiscoverySession(options(fake).opts);
    assert.equal(result.status, 'FAILURE');
    assert.equal(result.status === 'FAILURE' && result.code, 'NOT_FOUND');
    assert.equal(result.status === 'FAILURE' && result.sessionId, 'amzn1.alexa.discoverySession.fake-1');
    assert.match(result.status === 'FAILURE' ? result.reason : '', /valid for an hour/);
  });

  test('a dropped connection is retried like a 5xx', async () => {
    fake.script([{ method: 'POST', destroy: true }]);
    const { opts, clock, lines } = options(fake);
    assert.equal((await runDiscoverySession(opts)).status, 'SUCCESS');
    assert.equal(clock.sleeps[0], 1000);
    assert.ok(lines.some((l) => /network error/.test(l)), lines.join('\n'));
  });

  test('a request with no answer times out and is retried', async () => {
    fake.script([{ method: 'POST', delayMs: 2000, status: 202, headers: { location: '/v1/discoverySessions/late' } }]);
    const { opts, clock, lines } = options(fake, { requestTimeoutMs: 150 });
    const result = await runDiscoverySession(opts);
    assert.equal(result.status === 'SUCCESS' && result.sessionId, 'amzn1.alexa.discoverySession.fake-1');
    assert.equal(clock.sleeps[0], 1000);
    assert.ok(lines.some((l) => /no answer within 150 ms/.test(l)), lines.join('\n'));
  });

  test('a 409 after a POST that got no answer follows the session that POST created', async () => {
    fake.script([
      { method: 'POST', destroy: true },
      { method: 'POST', status: 409, body: { message: 'Session in progress', id: 'amzn1.alexa.discoverySession.mine' } },
    ]);
    const { opts, lines } = options(fake);
    const result = await runDiscoverySession(opts);
    assert.equal(result.status === 'SUCCESS' && result.sessionId, 'amzn1.alexa.discoverySession.mine');
    assert.ok(fake.requests.some((r) => r.url === '/v1/discoverySessions/amzn1.alexa.discoverySession.mine'));
    assert.ok(lines.some((l) => /following it/.test(l)), lines.join('\n'));
  });

  test('--timeout bounds polling: TIMEOUT names the session', async () => {
    await fake.close();
    fake = await startFakeDiscoverySessions({ inProgressPolls: Infinity });
    const { code, stderr, sleeps } = await cli(fake, ['--timeout', '10s']);
    assert.equal(code, 1);
    assert.match(stderr, /TIMEOUT/);
    assert.match(stderr, /amzn1\.alexa\.discoverySession\.fake-1 was still IN_PROGRESS after 10 s/);
    assert.equal(sleeps.reduce((a, b) => a + b, 0), 10_000);
  });

  test('--timeout bounds retries: persistent 500 → UNAVAILABLE with the last answer', async () => {
    fake.script([{ method: 'POST', status: 500, body: { message: 'Internal failure' }, times: Infinity }]);
    const { opts, clock } = options(fake, { timeoutMs: 20_000 });
    const result = await runDiscoverySession(opts);
    assert.equal(result.status === 'FAILURE' && result.code, 'UNAVAILABLE');
    assert.equal(result.status === 'FAILURE' && result.httpStatus, 500);
    assert.match(result.status === 'FAILURE' ? result.reason : '', /gave up after 20 s.*HTTP 500.*Internal failure/);
    assert.deepEqual(clock.sleeps, [1000, 2000, 4000, 8000, 5000]);
  });

  test('the token never reaches stdout or stderr, even when Amazon echoes it', async () => {
    const outputs: string[] = [];
    const collect = (r: { stdout: string; stderr: string }) => outputs.push(r.stdout, r.stderr);
    collect(await cli(fake));
    fake.script([{ method: 'POST', status: 429, body: { message: `throttled token ${TOKEN}` } }]);
    collect(await cli(fake));
    fake.script([{ method: 'POST', status: 401, body: { message: `Invalid token: ${TOKEN}` } }]);
    collect(await cli(fake, ['--token', TOKEN], {}));
    fake.script([{ method: 'GET', status: 200, body: { status: 'FAILURE', message: `bad ${TOKEN}` } }]);
    collect(await cli(fake));
    collect(await cli(fake, ['--stage', 'nope']));
    const all = outputs.join('\n');
    assert.match(all, /\[token\]/);
    assert.ok(!all.includes(TOKEN), all);
    assert.ok(!all.includes('secret-token'), all);
  });
});

describe('discovery session without a server', () => {
  let closedPort: number;
  before(async () => {
    // A port that was just free: connecting to it is refused.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    closedPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  });
  test('connection refused is retried with backoff, then NETWORK', async () => {
    const clock = virtualClock();
    const lines: string[] = [];
    const result = await runDiscoverySession({
      unit: UNIT, skillId: SKILL, stage: 'LIVE', apiUrl: `http://127.0.0.1:${closedPort}`, token: TOKEN,
      timeoutMs: 10_000, sleep: clock.sleep, now: clock.now, log: (l) => lines.push(l),
    });
    assert.equal(result.status === 'FAILURE' && result.code, 'NETWORK');
    assert.match(result.status === 'FAILURE' ? result.reason : '', /ECONNREFUSED/);
    assert.deepEqual(clock.sleeps, [1000, 2000, 4000, 3000]);
    assert.ok(lines.every((l) => !l.includes(TOKEN)));
  });

  test('an error retrying cannot fix (a port fetch refuses) is reported at once', async () => {
    const clock = virtualClock();
    const result = await runDiscoverySession({
      unit: UNIT, skillId: SKILL, stage: 'LIVE', apiUrl: 'http://127.0.0.1:1', token: TOKEN, sleep: clock.sleep, now: clock.now,
    });
    assert.equal(result.status === 'FAILURE' && result.code, 'NETWORK');
    assert.match(result.status === 'FAILURE' ? result.reason : '', /bad port/);
    assert.deepEqual(clock.sleeps, []);
  });
});

describe('parseDiscoverySessionArgs and usage errors', () => {
  const base = ['--unit', 'u1', '--skill-id', 's1'];

  test('defaults; the token from ALEXA_ACCESS_TOKEN, --token wins', () => {
    const parsed = parseDiscoverySessionArgs(base, { ALEXA_ACCESS_TOKEN: ' env-token\n' });
    assert.deepEqual(parsed, {
      options: { unit: 'u1', skillId: 's1', stage: 'LIVE', apiUrl: DEFAULT_API_URL, token: 'env-token', timeoutMs: DEFAULT_TIMEOUT_MS, pollIntervalMs: 2000 },
    });
    const flagged = parseDiscoverySessionArgs(['discovery-session', ...base, '--token', 'flag', '--timeout', '90s', '--poll-interval', '500ms', '--stage', 'DEVELOPMENT'], { ALEXA_ACCESS_TOKEN: 'env' });
    assert.ok('options' in flagged);
    assert.equal(flagged.options.token, 'flag');
    assert.equal(flagged.options.timeoutMs, 90_000);
    assert.equal(flagged.options.pollIntervalMs, 500);
    assert.equal(flagged.options.stage, 'DEVELOPMENT');
  });

  for (const [name, argv, env, pattern] of [
    ['missing --unit', ['--skill-id', 's1'], { ALEXA_ACCESS_TOKEN: 't' }, /--unit is required/],
    ['missing --skill-id', ['--unit', 'u1'], { ALEXA_ACCESS_TOKEN: 't' }, /--skill-id is required/],
    ['missing token', base, {}, /ALEXA_ACCESS_TOKEN/],
    ['bad --stage', [...base, '--stage', 'beta'], { ALEXA_ACCESS_TOKEN: 't' }, /--stage must be LIVE or DEVELOPMENT/],
    ['bad --api-url', [...base, '--api-url', 'ftp://x'], { ALEXA_ACCESS_TOKEN: 't' }, /--api-url/],
    ['bad --timeout', [...base, '--timeout', 'soon'], { ALEXA_ACCESS_TOKEN: 't' }, /--timeout/],
    ['unknown option', [...base, '--unti', 'x'], { ALEXA_ACCESS_TOKEN: 't' }, /--unti/],
    ['stray argument', [...base, 'extra'], { ALEXA_ACCESS_TOKEN: 't' }, /unexpected argument "extra"/],
  ] as const) {
    test(`${name} → exit 2 with usage`, async () => {
      const parsed = parseDiscoverySessionArgs([...argv], { ...env });
      assert.ok('error' in parsed);
      assert.match(parsed.error, pattern);
      const stderr: string[] = [];
      const stdout: string[] = [];
      const code = await discoverySessionCli([...argv], { env: { ...env }, stdout: (s) => stdout.push(s), stderr: (s) => stderr.push(s) });
      assert.equal(code, 2);
      assert.match(stderr.join(''), pattern);
      assert.match(stderr.join(''), /usage: porchlight discovery-session/);
      assert.deepEqual(stdout, []);
    });
  }

  test('--help prints usage to stdout, exit 0', async () => {
    const stdout: string[] = [];
    const code = await discoverySessionCli(['--help'], { env: {}, stdout: (s) => stdout.push(s), stderr: () => assert.fail('stderr') });
    assert.equal(code, 0);
    assert.match(stdout.join(''), /usage: porchlight discovery-session/);
  });
});

test('retryDelayMs: 1 s doubling to 256 s, then 256 s', () => {
  const seconds = Array.from({ length: 12 }, (_, attempt) => retryDelayMs(attempt) / 1000);
  assert.deepEqual(seconds, [1, 2, 4, 8, 16, 32, 64, 128, 256, 256, 256, 256]);
  assert.equal(retryDelayMs(10_000), 256_000);
});
