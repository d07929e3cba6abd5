import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_TIMEOUT_MS, parseSimulateArgs } from '../../skill/cli/simulate.ts';
import { startFakeSmapi, type FakeSmapi } from '../fixtures/fake-smapi.ts';
import { runSimulate as cli, simulationsPath, SKILL, TOKEN } from '../fixtures/fake-smapi-cli.ts';

// What both Simulation API versions must do alike (v1's own contract: simulate-v1.test.ts).
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

for (const api of ['v1', 'v2'] as const) {
  describe(`simulate --api ${api} against the fake Simulation API`, () => {
    const collection = simulationsPath(api);
    let fake: FakeSmapi;
    beforeEach(async () => {
      fake = await startFakeSmapi();
    });
    afterEach(() => fake.close());
    const simulate = (...args: string[]) => cli(fake, ['--api', api, ...args]);
    const posts = () => fake.requests.filter((r) => r.method === 'POST').length;

    test('IN_PROGRESS then SUCCESSFUL: exit 0, the documented requests, caption and skill I/O printed', async () => {
      const { code, stdout, stderr, sleeps } = await simulate('show the front door');
      assert.equal(code, 0, stderr);
      assert.match(stdout, /^Alexa said: "OK"$/m);
      assert.match(stdout, /Skill request \(to arn:aws:lambda:us-east-1:123456789012:function:porchlight-skill\):/);
      assert.match(stdout, /"name": "InitiateSessionWithOffer"/);
      assert.match(stdout, /Skill response \(412 ms\):/);
      assert.match(stdout, /"name": "AnswerGeneratedForSession"/);
      // The linked account's token inside the directive is not for printing either.
      assert.doesNotMatch(stdout, /linked-account-access-token/);
      assert.match(stdout, /"token": "\[redacted\]"/);
      assert.match(stderr, new RegExp(`Simulation API ${api}\\n`));
      assert.match(stderr, /Simulation fake-simulation-1 started/);
      assert.deepEqual(sleeps, [1000, 1500]);

      const [post, ...gets] = fake.requests;
      assert.equal(post!.method, 'POST');
      assert.equal(post!.url, collection);
      assert.deepEqual(post!.body, { session: { mode: 'DEFAULT' }, input: { content: 'show the front door' }, device: { locale: 'en-US' } });
      assert.equal(post!.headers.authorization, `Bearer ${TOKEN}`);
      assert.equal(post!.headers['content-type'], 'application/json');
      assert.deepEqual(gets.map((r) => `${r.method} ${r.url}`), [
        `GET ${collection}/fake-simulation-1`,
        `GET ${collection}/fake-simulation-1`,
      ]);
    });

    test('FAILED: exit 1 with Amazon\'s error message', async () => {
      const error = { code: 'SKILL_EXECUTION_ERROR', message: 'Skill execution returned an exception for requestId amzn1.echo-api.request.1' };
      fake.script([{ method: 'GET', body: { id: 'fake-simulation-1', status: 'FAILED', result: { error } } }]);
      const { code, stdout, stderr } = await simulate('show the front door');
      assert.equal(code, 1);
      assert.equal(stdout, '');
      assert.match(stderr, /Simulation fake-simulation-1 FAILED: Skill execution returned an exception/);
    });

    test('409 while another simulation runs: explained, exit 1, no retry', async () => {
      // A simulation started elsewhere (the developer console, another terminal) and not finished.
      const other = await fetch(`${fake.url}${collection}`, {
        method: 'POST', headers: { authorization: 'Bearer other', 'content-type': 'application/json' },
        body: JSON.stringify({ input: { content: 'show the garage' }, device: { locale: 'en-US' } }),
      });
      assert.equal(other.status, 200);
      const { code, stderr, sleeps } = await simulate('show the front door');
      assert.equal(code, 1);
      assert.match(stderr, /A simulation is already running for this skill \(HTTP 409: A simulation is already in progress/);
      assert.match(stderr, /x-amzn-requestid /);
      assert.match(stderr, /did not retry\. Wait for it to finish .*then run the command again/);
      assert.equal(posts(), 2, 'the command sent its POST once');
      assert.deepEqual(sleeps, []);
    });

    test('409 after a 503 on the same POST says the conflict may be this command\'s own', async () => {
      fake.script([
        { method: 'POST', status: 503, body: { message: 'Service Unavailable' } },
        { method: 'POST', status: 409, body: { message: 'A simulation is already in progress for this skill.' } },
      ]);
      const { code, stderr, sleeps } = await simulate('show the front door');
      assert.equal(code, 1);
      assert.match(stderr, /did not retry\. It may be the one an earlier attempt of this command started/);
      assert.equal(posts(), 2);
      assert.deepEqual(sleeps, [1000]);
    });

    test('429 then success: retried after Retry-After (seconds), then 1 s doubling', async () => {
      fake.script([
        { method: 'POST', status: 429, headers: { 'retry-after': '3' }, body: { message: 'Rate exceeded' } },
        { method: 'POST', status: 429, body: { message: 'Rate exceeded' } },
      ]);
      const { code, stderr, sleeps } = await simulate('show the front door');
      assert.equal(code, 0, stderr);
      assert.equal(posts(), 3);
      assert.deepEqual(sleeps, [3000, 2000, 1000, 1500]);
      assert.match(stderr, /HTTP 429: Rate exceeded.*; retrying in 3 s/);
    });

    test('503 on the POST honours Retry-After as an HTTP date; 503 while polling is retried; then success', async () => {
      // The virtual clock stands at 2026-11-21T20:00:00Z.
      fake.script([
        { method: 'POST', status: 503, headers: { 'retry-after': 'Sat, 21 Nov 2026 20:00:05 GMT' }, body: { message: 'Service Unavailable' } },
        { method: 'GET', status: 503, body: { message: 'Service Unavailable' } },
      ]);
      const { code, stdout, stderr, sleeps } = await simulate('show the front door');
      assert.equal(code, 0, stderr);
      assert.match(stdout, /^Alexa said: "OK"$/m);
      assert.deepEqual(sleeps, [5000, 1000, 1000, 1500]);
      assert.match(stderr, /HTTP 503: Service Unavailable.*retrying in 5 s/);
      assert.match(stderr, /HTTP 503: Service Unavailable.*retrying in 1 s/);
    });

    test('throttling that never ends: at most 6 retries with backoff, however long --timeout is', async () => {
      fake.script([{ method: 'POST', status: 429, body: { message: 'Rate exceeded' }, times: Infinity }]);
      const { code, stderr, sleeps } = await simulate('--timeout', '60m', 'show the front door');
      assert.equal(code, 1);
      assert.deepEqual(sleeps, [1000, 2000, 4000, 8000, 16000, 32000]);
      assert.equal(posts(), 7);
      assert.match(stderr, /kept answering HTTP 429: Rate exceeded.*; gave up after 6 retries/);
    });

    test('throttling that never ends gives up within a short --timeout, exit 1', async () => {
      fake.script([{ method: 'POST', status: 429, body: { message: 'Rate exceeded' }, times: Infinity }]);
      const { code, stderr, sleeps } = await simulate('--timeout', '10s', 'show the front door');
      assert.equal(code, 1);
      assert.match(stderr, /kept answering HTTP 429.*gave up when --timeout ran out/);
      assert.equal(sleeps.reduce((a, b) => a + b, 0), 10_000);
    });

    test('a simulation that stays IN_PROGRESS times out, exit 1', async () => {
      await fake.close();
      fake = await startFakeSmapi({ inProgressPolls: Infinity });
      const { code, stderr } = await simulate('--timeout', '20', 'show the front door');
      assert.equal(code, 1);
      assert.match(stderr, /Simulation fake-simulation-1 was still IN_PROGRESS when --timeout ran out/);
    });

    for (const [status, method, body, expected] of [
      [400, 'POST', { message: 'Invalid request body.', violations: [{ code: 'INVALID_LOCALE', message: 'Locale xx-XX is not supported.' }] },
        /refused the simulation request as invalid \(HTTP 400: Invalid request body\.; Locale xx-XX is not supported\..*Check --locale/],
      [401, 'POST', { message: 'Token is expired.' }, /did not accept the access token \(HTTP 401: Token is expired\./],
      [403, 'POST', { message: 'User is not authorized to simulate this skill.' },
        /refused to simulate skill amzn1\.ask\.skill\.\S+ \(HTTP 403: User is not authorized.*testing must be enabled for the development stage/],
      [404, 'POST', { message: 'Skill does not exist.' },
        api === 'v1'
          ? /found no skill amzn1\.ask\.skill\.\S+ to simulate \(HTTP 404: Skill does not exist\.\S*.*Check --skill-id; Simulation API v1 only simulates the development stage/
          : /found no skill amzn1\.ask\.skill\.\S+ in stage development \(HTTP 404: Skill does not exist\..*Check --skill-id and --stage/],
      [404, 'GET', { message: 'Simulation does not exist.' }, /Simulation fake-simulation-1 is gone \(HTTP 404: Simulation does not exist\./],
    ] as const) {
      test(`${status} on ${method} is reported with Amazon's message and the cause, exit 1, not retried`, async () => {
        fake.script([{ method, status, body }]);
        const { code, stdout, stderr } = await simulate('show the front door');
        assert.equal(code, 1);
        assert.equal(stdout, '');
        assert.match(stderr, expected);
        assert.equal(fake.requests.filter((r) => r.method === method).length, 1);
      });
    }

    test('the token is scrubbed even when Amazon echoes it', async () => {
      fake.script([{ method: 'POST', status: 403, body: { message: `token ${TOKEN} may not call this API` } }]);
      const { code, stderr } = await simulate('show the front door');
      assert.equal(code, 1);
      assert.match(stderr, /token \[token\] may not call this API/);
    });
  });
}

describe('simulate --api v2: stages', () => {
  let fake: FakeSmapi;
  beforeEach(async () => {
    fake = await startFakeSmapi();
  });
  afterEach(() => fake.close());

  test('--new-session, --locale and --stage live shape the request; an unquoted utterance is joined', async () => {
    const { code, stderr } = await cli(fake, ['--api', 'v2', '--new-session', '--locale', 'de-DE', '--stage', 'live', 'zeige', 'die', 'Haustür']);
    assert.equal(code, 0, stderr);
    assert.equal(fake.requests[0]!.url, simulationsPath('v2', 'live'));
    assert.deepEqual(fake.requests[0]!.body, {
      session: { mode: 'FORCE_NEW_SESSION' }, input: { content: 'zeige die Haustür' }, device: { locale: 'de-DE' },
    });
    assert.match(stderr, /stage live, Simulation API v2/);
  });
});

describe('simulate usage', () => {
  for (const [why, args, env] of [
    ['no --skill-id', ['show the front door'], { ALEXA_ACCESS_TOKEN: TOKEN }],
    ['no utterance', ['--skill-id', SKILL], { ALEXA_ACCESS_TOKEN: TOKEN }],
    ['no token', ['--skill-id', SKILL, 'show the front door'], {}],
    ['a bad locale', ['--skill-id', SKILL, '--locale', 'english', 'hi'], { ALEXA_ACCESS_TOKEN: TOKEN }],
    ['a bad stage', ['--skill-id', SKILL, '--api', 'v2', '--stage', 'certified', 'hi'], { ALEXA_ACCESS_TOKEN: TOKEN }],
    ['a bad --api', ['--skill-id', SKILL, '--api', 'v3', 'hi'], { ALEXA_ACCESS_TOKEN: TOKEN }],
    ['a bad timeout', ['--skill-id', SKILL, '--timeout', 'soon', 'hi'], { ALEXA_ACCESS_TOKEN: TOKEN }],
    ['an unknown option', ['--skill-id', SKILL, '--verbose', 'hi'], { ALEXA_ACCESS_TOKEN: TOKEN }],
  ] as const) {
    test(`${why}: exit 2 with the usage`, async () => {
      const { code, stdout, stderr } = await cli(undefined, [...args], { ...env });
      assert.equal(code, 2);
      assert.equal(stdout, '');
      assert.match(stderr, /^simulate: .+\nusage: npm run simulate/);
    });
  }

  test('--help prints the usage, exit 0', async () => {
    const { code, stdout } = await cli(undefined, ['--help']);
    assert.equal(code, 0);
    assert.match(stdout, /^usage: npm run simulate/);
  });

  test('defaults, and --token wins over ALEXA_ACCESS_TOKEN', () => {
    const parsed = parseSimulateArgs(['--skill-id', SKILL, '--token', ' from-flag\n', 'hi'], { ALEXA_ACCESS_TOKEN: 'from-env' });
    assert.deepEqual(parsed, {
      options: {
        skillId: SKILL, utterance: 'hi', locale: 'en-US', api: 'v1', stage: 'development', newSession: false,
        apiUrl: 'https://api.amazonalexa.com', token: 'from-flag', timeoutMs: DEFAULT_TIMEOUT_MS,
      },
    });
    assert.equal(DEFAULT_TIMEOUT_MS, 120_000);
  });
});

describe('skill manifest and account linking templates', () => {
  const read = (path: string) => JSON.parse(readFileSync(`${ROOT}${path}`, 'utf8'));

  test('skill/skill.json is a smart-home v3 manifest with the event permission and an endpoint per region', () => {
    const { manifest } = read('skill/skill.json');
    const smartHome = manifest.apis.smartHome;
    assert.equal(smartHome.protocolVersion, '3');
    assert.match(smartHome.endpoint.uri, /^arn:aws:lambda:us-east-1:\d{12}:function:porchlight-skill$/);
    // Alexa calls the Lambda in the account's region: NA us-east-1, EU eu-west-1, FE us-west-2.
    assert.match(smartHome.regions.NA.endpoint.uri, /^arn:aws:lambda:us-east-1:/);
    assert.match(smartHome.regions.EU.endpoint.uri, /^arn:aws:lambda:eu-west-1:/);
    assert.match(smartHome.regions.FE.endpoint.uri, /^arn:aws:lambda:us-west-2:/);
    assert.ok(manifest.permissions.some((p: { name: string }) => p.name === 'alexa::async_event:write'));
    assert.equal(manifest.manifestVersion, '1.0');
    assert.equal(manifest.publishingInformation.category, 'SMART_HOME');
    assert.deepEqual(Object.keys(manifest.publishingInformation.locales).sort(), ['de-DE', 'en-GB', 'en-US']);
    for (const locale of Object.values<{ name: string; summary: string }>(manifest.publishingInformation.locales)) {
      assert.equal(locale.name, 'porchlight');
      assert.ok(locale.summary.length > 0);
    }
    assert.equal(typeof manifest.privacyAndCompliance.usesPersonalInfo, 'boolean');
  });

  test('skill/account-linking.json is Login with Amazon, auth-code grant, HTTP Basic', () => {
    const { accountLinkingRequest: linking } = read('skill/account-linking.json');
    assert.equal(linking.type, 'AUTH_CODE');
    assert.equal(linking.authorizationUrl, 'https://www.amazon.com/ap/oa');
    assert.equal(linking.accessTokenUrl, 'https://api.amazon.com/auth/o2/token');
    assert.equal(linking.accessTokenScheme, 'HTTP_BASIC');
    assert.deepEqual(linking.scopes, ['profile:user_id']);
    assert.ok(linking.clientId && linking.clientSecret);
  });

  test('skill/README.md documents every placeholder in the templates', () => {
    const readme = readFileSync(`${ROOT}skill/README.md`, 'utf8');
    const templates = readFileSync(`${ROOT}skill/skill.json`, 'utf8') + readFileSync(`${ROOT}skill/account-linking.json`, 'utf8');
    const placeholders = new Set(templates.match(/123456789012|REPLACE_WITH_[A-Z_]+/g));
    assert.ok(placeholders.size >= 3);
    for (const placeholder of placeholders) assert.ok(readme.includes(placeholder), `README does not mention ${placeholder}`);
  });
});
