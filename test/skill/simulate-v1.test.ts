import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SIMULATE_USAGE } from '../../skill/cli/simulate.ts';
import { startFakeSmapi, successfulResult, type FakeSmapi } from '../fixtures/fake-smapi.ts';
import { runSimulate as cli, simulationsPath, SKILL, TOKEN } from '../fixtures/fake-smapi-cli.ts';

// Skill Simulation API v1, the seed contract: the default of `npm run simulate`, no stage in the
// path, a Location header, and v1's result shape (skillExecutionInfo is the invocation itself).
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const V1 = simulationsPath('v1');

describe('simulate: Skill Simulation API v1 is the default', () => {
  let fake: FakeSmapi;
  beforeEach(async () => {
    fake = await startFakeSmapi();
  });
  afterEach(() => fake.close());

  test('no --api: POST /v1/skills/{skillId}/simulations, GET …/{simulationId}, caption and skill I/O from the v1 result', async () => {
    const { code, stdout, stderr } = await cli(fake, ['show the front door']);
    assert.equal(code, 0, stderr);
    assert.deepEqual(fake.requests.map((r) => `${r.method} ${r.url}`), [
      `POST ${V1}`,
      `GET ${V1}/fake-simulation-1`,
      `GET ${V1}/fake-simulation-1`,
    ]);
    assert.deepEqual(fake.requests[0]!.body, { session: { mode: 'DEFAULT' }, input: { content: 'show the front door' }, device: { locale: 'en-US' } });
    assert.match(stderr, /stage development, Simulation API v1/);
    assert.match(stdout, /^Alexa said: "OK"$/m);
    // v1 puts the invocation in skillExecutionInfo itself, with no invocations list.
    assert.match(stdout, /^Skill request \(to arn:aws:lambda:us-east-1:123456789012:function:porchlight-skill\):$/m);
    assert.match(stdout, /^Skill response \(412 ms\):$/m);
    assert.doesNotMatch(stdout, /Amazon reported no skill invocation/);
  });

  test('the fake answers the POST as v1 documents it: 200 IN_PROGRESS, result null, a Location header', async () => {
    const response = await fetch(`${fake.url}${V1}`, {
      method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ session: { mode: 'DEFAULT' }, input: { content: 'show the front door' }, device: { locale: 'en-US' } }),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('location'), `${V1}/fake-simulation-1`);
    assert.deepEqual(await response.json(), { id: 'fake-simulation-1', status: 'IN_PROGRESS', result: null });
  });

  test('a POST answer naming the simulation only in Location is followed there', async () => {
    fake.script([{ method: 'POST', headers: { location: `${V1}/from-location` }, body: { status: 'IN_PROGRESS', result: null } }]);
    const result = successfulResult('arn:aws:lambda:eu-west-1:123456789012:function:porchlight-skill', 'Showing the front door', 'v1');
    fake.script([{ method: 'GET', body: { id: 'from-location', status: 'SUCCESSFUL', result } }]);
    const { code, stdout, stderr } = await cli(fake, ['show the front door']);
    assert.equal(code, 0, stderr);
    assert.equal(fake.requests[1]!.url, `${V1}/from-location`);
    assert.match(stdout, /^Alexa said: "Showing the front door"$/m);
    assert.match(stdout, /Skill request \(to arn:aws:lambda:eu-west-1:/);
  });

  test('a SUCCESSFUL v1 result with no skill invocation says so', async () => {
    fake.script([{ method: 'GET', body: { id: 'fake-simulation-1', status: 'SUCCESSFUL', result: { alexaExecutionInfo: { alexaResponses: [] }, skillExecutionInfo: {} } } }]);
    const { code, stdout } = await cli(fake, ['show the front door']);
    assert.equal(code, 0);
    assert.match(stdout, /^Alexa said nothing\.$/m);
    assert.match(stdout, /Amazon reported no skill invocation/);
  });

  test('--stage development is v1\'s own stage; --stage live needs --api v2', async () => {
    assert.equal((await cli(fake, ['--stage', 'development', 'show the front door'])).code, 0);
    const live = await cli(fake, ['--stage', 'live', 'show the front door']);
    assert.equal(live.code, 2);
    assert.match(live.stderr, /^simulate: --stage live needs --api v2 \(Simulation API v1 simulates the development stage only\)\n/);
    assert.equal(fake.requests.filter((r) => r.method === 'POST').length, 1);
  });

  test('the real entry (scripts/node.sh) runs v1 against the fake: exit 0', async () => {
    await fake.close();
    fake = await startFakeSmapi({ inProgressPolls: 0 });
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(`${ROOT}scripts/node.sh`, ['skill/cli/simulate.ts', '--skill-id', SKILL, '--api-url', fake.url, 'show the front door'], {
        cwd: ROOT,
        env: { ...process.env, PORCHLIGHT_NODE: process.execPath, ALEXA_ACCESS_TOKEN: TOKEN },
        timeout: 30_000,
      }, (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
    });
    assert.equal(code, 0, stderr);
    assert.match(stdout, /Alexa said: "OK"/);
    assert.equal(fake.requests[0]!.url, V1);
    assert.ok(!stdout.includes(TOKEN) && !stderr.includes(TOKEN));
  });
});

test('the usage says which API is which, v1 the default', async () => {
  const { code, stdout } = await cli(undefined, ['--help']);
  assert.equal(code, 0);
  assert.equal(stdout, `${SIMULATE_USAGE}\n`);
  assert.match(SIMULATE_USAGE, /--api VERSION +which Skill Simulation API \(default v1\)/);
  assert.match(SIMULATE_USAGE, /v1 +POST \/v1\/skills\/\{skillId\}\/simulations: the development stage only/);
  assert.match(SIMULATE_USAGE, /v2 +POST \/v2\/skills\/\{skillId\}\/stages\/\{stage\}\/simulations: development\n +or live/);
  assert.match(SIMULATE_USAGE, /--stage STAGE +with --api v2/);
  assert.match(SIMULATE_USAGE, /409\n\(a simulation is already running for this skill\) is not/);
});
