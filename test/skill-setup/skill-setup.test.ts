/**
 * `porchlight skill setup|status|remove` against local fakes of Login with Amazon + SMAPI
 * (fake-amazon-developer.ts), IAM + Lambda (fake-aws-skill.ts, which really runs the uploaded
 * zip) and IoT (fake-aws-iot.ts), with a real bridge: the function setup deployed answers a
 * Discover with the bridge's cameras; a second run writes nothing; each failure is named.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { skillSetup, type SkillSetupOptions } from '../../src/skill-setup/skill-setup.ts';
import { skillStatus } from '../../src/skill-setup/skill-status.ts';
import { skillRemove } from '../../src/skill-setup/skill-remove.ts';
import { readSkillState } from '../../src/skill-setup/skill-state.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import { withSecrets } from '../../src/config/secrets.ts';
import { startFakeAmazonDeveloper, type FakeAmazonDeveloper } from '../fixtures/fake-amazon-developer.ts';
import { startFakeAwsSkill, type FakeAwsSkill } from '../fixtures/fake-aws-skill.ts';
import { startFakeAws, type FakeAws } from '../fixtures/fake-aws-iot.ts';
import { PROXY_SECRET, startBridge, type TestBridge } from '../helpers/bridge.ts';
import { discoverDirective } from '../helpers/directives.ts';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { simulateCli } from '../../skill/cli/simulate.ts';
import { startFakeSmapi } from '../fixtures/fake-smapi.ts';

const CREDENTIALS = { accessKeyId: 'AKIAFAKESKILLSETUP', secretAccessKey: 'fake-secret-access-key-skill-setup' };
/** SMAPI calls and AWS actions that change something (a token refresh changes nothing in the account). */
const WRITES = /^(POST \/v1|PUT |DELETE )|^(Create|Update|Add|Attach|Delete|Remove|Put|Detach)/;

/** A browser: follows the authorize address, then either lets LWA's redirect reach the callback or hands the address over. */
async function browse(address: string, deliver: 'callback' | ((returned: string) => void)): Promise<void> {
  const answer = await fetch(address, { redirect: 'manual' });
  const location = answer.headers.get('location');
  assert.ok(location, `the authorize address answered ${answer.status} without a redirect`);
  if (deliver === 'callback') await fetch(location).then((r) => r.text());
  else deliver(location);
}

describe('porchlight skill setup', () => {
  let amazon: FakeAmazonDeveloper;
  let aws: FakeAwsSkill;
  let iot: FakeAws;
  let bridge: TestBridge;
  const lines: string[] = [];
  const dirs: string[] = [];
  let port = 19_090;

  before(async () => {
    aws = await startFakeAwsSkill({ region: 'us-east-1' });
    amazon = await startFakeAmazonDeveloper({
      // SMAPI checks the function's trigger names the skill, as the real one does.
      lambdaTrigger: (arn, skillId) => [...aws.functions.values()].some((f) => f.arn === arn
        && f.statements.some((s) => JSON.stringify(s).includes(skillId) && JSON.stringify(s).includes('alexa-connectedhome.amazon.com'))),
    });
    iot = await startFakeAws({ region: 'us-east-1' });
    bridge = await startBridge({ cameras: [{ id: 'front-door', name: 'Front Door', kind: 'doorbell', url: `file:${DEMO_CLIP}` }, { id: 'garage', name: 'Garage', url: `file:${DEMO_CLIP}` }] });
  });
  after(async () => {
    await bridge?.close();
    await Promise.all([amazon?.close(), aws?.close(), iot?.close()]);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  const dataDir = () => join(bridge.dir, 'data');
  function freshDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'porchlight-skill-setup-'));
    dirs.push(dir);
    return dir;
  }

  /** Options for a run; the login (when one is asked for) goes through `deliver`. */
  function options(extra: Partial<SkillSetupOptions> = {}, deliver: 'callback' | 'paste' | ((returned: string) => void) = 'callback'): SkillSetupOptions {
    const input = new PassThrough();
    const callbackPort = port++;
    return {
      region: 'us-east-1',
      dataDir: dataDir(),
      proxySecret: PROXY_SECRET,
      configHasAlexaCredentials: false,
      lwaClientId: amazon.clientId,
      lwaClientSecret: amazon.clientSecret,
      callbackPort,
      functionName: 'porchlight-skill',
      bridgeUrl: bridge.url,
      allowInsecureBridge: true,
      amazon: { smapiUrl: amazon.url, authorizeUrl: `${amazon.url}/ap/oa`, tokenUrl: `${amazon.url}/auth/o2/token` },
      aws: { endpoint: aws.url, credentials: CREDENTIALS },
      iot: { endpoint: iot.url, credentials: CREDENTIALS },
      input,
      sleep: async () => {},
      say: (line) => {
        lines.push(line);
        if (line.startsWith(`${amazon.url}/ap/oa?`)) {
          const to = deliver === 'paste' ? (returned: string) => input.write(`${returned}\n`) : deliver;
          browse(line, to).catch((err: unknown) => lines.push(`browser failed: ${(err as Error).message}`));
        }
      },
      ...extra,
    };
  }

  function invoke(name: string, event: unknown): Promise<any> {
    const lambda = new LambdaClient({ region: 'us-east-1', endpoint: aws.url, credentials: CREDENTIALS });
    return lambda.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(event)) }))
      .then((answer) => JSON.parse(Buffer.from(answer.Payload!).toString()))
      .finally(() => lambda.destroy());
  }

  test('first run: signs in with PKCE, makes the skill, role, function, trigger, manifest, account linking and the bridge\'s event credentials', async () => {
    const before = lines.length;
    const result = await skillSetup(options());
    const said = lines.slice(before);
    // The authorize address alone on its line, with PKCE S256, the scopes and a state.
    const address = new URL(said.find((line) => line.startsWith(`${amazon.url}/ap/oa?`))!);
    assert.equal(address.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(address.searchParams.get('scope'), 'alexa::ask:skills:readwrite alexa::ask:models:readwrite alexa::ask:skills:test profile:user_id');
    assert.match(address.searchParams.get('redirect_uri')!, /^http:\/\/127\.0\.0\.1:\d+\/cb$/);
    assert.ok(said.some((l) => /^✔ skill porchlight \(amzn1\.ask\.skill\.[^)]+\) created$/.test(l)), said.join('\n'));

    const skill = amazon.skills.get(result.skillId)!;
    assert.deepEqual(skill.manifest.permissions, [{ name: 'alexa::async_event:write' }]);
    assert.equal(skill.manifest.apis.smartHome.endpoint.uri, result.functionArn);
    assert.equal(skill.manifest.apis.smartHome.regions.NA.endpoint.uri, result.functionArn);
    assert.deepEqual(Object.keys(skill.manifest.publishingInformation.locales), ['en-US', 'en-CA']);
    assert.deepEqual(skill.accountLinking.accountLinkingRequest ?? skill.accountLinking, {
      type: 'AUTH_CODE', authorizationUrl: 'https://www.amazon.com/ap/oa', accessTokenUrl: 'https://api.amazon.com/auth/o2/token',
      clientId: amazon.clientId, clientSecret: amazon.clientSecret, accessTokenScheme: 'HTTP_BASIC', scopes: ['profile:user_id'],
    });
    // The trigger came before the manifest named the function (the fake SMAPI refuses it otherwise).
    const fn = aws.functions.get('porchlight-skill')!;
    assert.equal(fn.runtime, 'nodejs22.x');
    assert.equal(fn.handler, 'index.handler');
    assert.equal(fn.timeout, 10);
    assert.equal(fn.environment.BRIDGE_URL, bridge.url);
    assert.equal(fn.environment.ALLOW_INSECURE_BRIDGE, '1');
    assert.equal(fn.environment.PROXY_SECRET, PROXY_SECRET);
    assert.ok(aws.roles.get('porchlight-skill-role')!.attachedPolicies.has('arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'));
    assert.ok(aws.calls.indexOf('lambda:AddPermission') >= 0);

    // State and secrets 0600; the bridge's config now has the skill's messaging credentials.
    for (const file of ['alexa-skill.json', 'secrets.json']) assert.equal(statSync(join(dataDir(), file)).mode & 0o777, 0o600, file);
    assert.ok(readSkillState(dataDir()).lwa?.refreshToken);
    const config = withSecrets(loadConfigFile(join(bridge.dir, 'porchlight.yaml'), {}).config, 'test');
    assert.deepEqual(config.alexa, { ...config.alexa, ...skill.credentials, region: 'NA' });
    // What only the user can do, with this vendor id.
    assert.ok(said.includes(`       https://pitangui.amazon.com/api/skill/link/${amazon.vendorId}`));
    assert.ok(said.some((l) => l.includes('Skills & Games → Your Skills → Dev → porchlight → Enable to use')));
  });

  test('status before Alexa called: the cloud side ✔, "Alexa has never called this bridge" with the region/trigger/enable hint', async () => {
    const items = await skillStatus({ config: bridgeConfig(), amazon: options().amazon, aws: { endpoint: aws.url, credentials: CREDENTIALS }, bridgeUrl: bridge.url });
    const byId = Object.fromEntries(items.map((i) => [i.id, i]));
    for (const id of ['login', 'skill', 'lambda', 'trigger', 'proxy-secret', 'endpoint', 'account-linking', 'bridge']) assert.equal(byId[id]?.ok, true, `${id}: ${byId[id]?.what}`);
    assert.equal(byId.directives!.ok, false);
    assert.equal(byId.directives!.what, 'Alexa has never called this bridge');
    assert.match(byId.directives!.fix!, /us-east-1.*Alexa Smart Home trigger.*Enable to use/);
  });

  test('the deployed function, run from its zip, answers a Discover with the bridge\'s cameras; status then shows the call', async () => {
    const reply = await invoke('porchlight-skill', discoverDirective());
    assert.equal(reply.event.header.name, 'Discover.Response', JSON.stringify(reply));
    assert.deepEqual(reply.event.payload.endpoints.map((e: any) => e.endpointId).sort(), ['front-door', 'garage']);
    const items = await skillStatus({ config: bridgeConfig(), amazon: options().amazon, aws: { endpoint: aws.url, credentials: CREDENTIALS }, bridgeUrl: bridge.url });
    const byId = Object.fromEntries(items.map((i) => [i.id, i]));
    assert.equal(byId.directives!.ok, true);
    assert.match(byId.directives!.what, /^Alexa last called this bridge \d+ s ago \(Alexa\.Discovery Discover, via HTTP\)$/);
    assert.match(byId.discovery!.what, /returned 2 cameras$/);
  });

  test('second run: only reads, says so; an access token SMAPI calls expired is refreshed once', async () => {
    amazon.expireAccessTokens();
    const amazonBefore = amazon.calls.length;
    const awsBefore = aws.calls.length;
    const before = lines.length;
    const result = await skillSetup(options({ lwaClientId: undefined, lwaClientSecret: undefined }));
    assert.equal(result.writes, 0);
    assert.deepEqual(amazon.calls.slice(amazonBefore).filter((c) => WRITES.test(c)), []);
    assert.deepEqual(aws.calls.slice(awsBefore).filter((c) => WRITES.test(c.split(':')[1]!)), []);
    assert.ok(lines.slice(before).includes('Nothing to change: the skill, the function and account linking were already in place.'));
    assert.ok(!lines.slice(before).some((l) => l.includes('/ap/oa?')), 'no new login');
    assert.ok(amazon.requests.slice(0).some((r) => r.path.startsWith('/auth/o2/token') && JSON.stringify(r.body).includes('refresh_token')), 'refreshed');
  });

  test('npm run simulate after setup: the stored login and skill id, no ALEXA_ACCESS_TOKEN, no --skill-id', async () => {
    const simulations = await startFakeSmapi();
    try {
      const out: string[] = [];
      const code = await simulateCli(['--api-url', simulations.url, '--config', join(bridge.dir, 'porchlight.yaml'), 'show the front door'], {
        env: { PORCHLIGHT_LWA_TOKEN_URL: `${amazon.url}/auth/o2/token` },
        stdout: (s) => out.push(s),
        stderr: (s) => out.push(s),
        sleep: async () => {},
      });
      assert.equal(code, 0, out.join(''));
      const state = readSkillState(dataDir());
      const created = simulations.requests.find((r) => r.method === 'POST')!;
      assert.equal(created.url, `/v1/skills/${encodeURIComponent(state.skillId!)}/simulations`);
      assert.equal(created.headers.authorization, `Bearer ${state.lwa!.accessToken}`);
      assert.ok(!out.join('').includes(state.lwa!.accessToken!), 'the token is not printed');
    } finally {
      await simulations.close();
    }
  });

  test('a changed proxy secret updates only the function\'s environment, keeping the user\'s own variables', async () => {
    aws.functions.get('porchlight-skill')!.environment.MY_OWN = 'kept';
    const awsBefore = aws.calls.length;
    const result = await skillSetup(options({ proxySecret: 'another-proxy-secret-0123456789' }));
    assert.equal(result.writes, 1);
    assert.deepEqual(aws.calls.slice(awsBefore).filter((c) => WRITES.test(c.split(':')[1]!)), ['lambda:UpdateFunctionConfiguration']);
    assert.equal(aws.functions.get('porchlight-skill')!.environment.MY_OWN, 'kept');
    await skillSetup(options());
  });

  test('429 with Retry-After is waited out; a manifest Amazon refuses is an error listing its violations', async () => {
    const waits: number[] = [];
    amazon.script([{ status: 429, headers: { 'retry-after': '2' }, match: 'GET /v1/vendors', times: 2 }]);
    await skillSetup(options({ sleep: async (ms) => void waits.push(ms) }));
    assert.ok(waits.filter((ms) => ms >= 2000).length >= 2, `waits ${waits}`);

    // Amazon's words are printed cleaned: no terminal escapes, no line of their own making.
    amazon.failNextManifest([{ message: 'The skill name\u001b[2J is not valid.' }, { message: 'Example phrase 1 is not valid.\r\n✔ fake success line' }]);
    const dir = freshDir();
    await assert.rejects(skillSetup(options({ dataDir: dir, functionName: 'porchlight-failed' })), (err: Error) =>
      /Amazon refused the skill manifest:\n {2}- The skill name is not valid\.\n {2}- Example phrase 1 is not valid\. ✔ fake success line$/.test(err.message));
  });

  test('login: a pasted address works; denied and a wrong state are refused by name', async () => {
    const pasted = freshDir();
    await skillSetup(options({ dataDir: pasted, functionName: 'porchlight-pasted' }, 'paste'));
    assert.ok(readSkillState(pasted).skillId);

    amazon.denyLogin = true;
    await assert.rejects(skillSetup(options({ dataDir: freshDir() })), (err: Error & { code?: string }) => err.code === 'DENIED' && /access was denied/.test(err.message));
    amazon.denyLogin = false;

    const wrongState = (returned: string) => {
      const url = new URL(returned);
      url.searchParams.set('state', 'not-the-state-this-login-sent');
      (opts.input as PassThrough).write(`${url}\n`);
    };
    const opts = options({ dataDir: freshDir() }, wrongState);
    await assert.rejects(skillSetup(opts), (err: Error & { code?: string }) => err.code === 'STATE_MISMATCH');
  });

  test('a region Alexa never calls stops before any change; AccessDenied on AddPermission names the permission', async () => {
    const dir = freshDir();
    await assert.rejects(skillSetup(options({ region: 'ap-south-1', dataDir: join(dir, 'data') })), /not a region Alexa calls: use us-east-1.*eu-west-1.*us-west-2/);
    assert.equal(existsSync(join(dir, 'data')), false, 'nothing written');

    aws.deny.add('lambda:AddPermission');
    await assert.rejects(skillSetup(options({ dataDir: freshDir(), functionName: 'porchlight-denied' })), /lambda:AddPermission permission/);
    aws.deny.clear();
  });

  test('a role just made is not yet assumable by Lambda: CreateFunction is retried until it is', async () => {
    aws.rolePropagationMs = 600;
    try {
      const before = lines.length;
      await skillSetup(options({ dataDir: freshDir(), functionName: 'porchlight-new-role', sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.min(ms, 100))) }));
      assert.ok(aws.functions.has('porchlight-new-role'));
      assert.ok(lines.slice(before).some((l) => /the new role is not usable by Lambda yet/.test(l)));
      assert.ok(aws.calls.filter((c) => c === 'lambda:CreateFunction').length >= 2);
    } finally {
      aws.rolePropagationMs = 0;
    }
  });

  test('the relay by default: IoT certificates made, the function gets RELAY_*, the bridge\'s relay goes to secrets.json; remove deletes only what setup made', async () => {
    const dir = freshDir();
    const result = await skillSetup(options({ dataDir: dir, functionName: 'porchlight-relay', bridgeUrl: undefined, allowInsecureBridge: false }));
    const env = aws.functions.get('porchlight-relay')!.environment;
    assert.equal(env.RELAY_URL, 'mqtts://abc123fake-ats.iot.us-east-1.amazonaws.com:8883');
    assert.equal(env.RELAY_BRIDGE_ID, 'home');
    assert.match(env.RELAY_KEY!, /BEGIN PRIVATE KEY/);
    assert.equal(env.BRIDGE_URL, undefined);
    const secrets = JSON.parse(readFileSync(join(dir, 'secrets.json'), 'utf8'));
    assert.equal(secrets.relay.url, env.RELAY_URL);
    assert.ok(existsSync(secrets.relay.cert));
    assert.equal(iot.certificates.size, 2);

    const planned = await skillRemove({ dataDir: dir, yes: false, amazon: options().amazon, say: () => {} });
    assert.equal(planned.removed, false);
    assert.ok(amazon.skills.has(result.skillId), 'nothing deleted without --yes');
    const said: string[] = [];
    await skillRemove({ dataDir: dir, yes: true, amazon: options().amazon, aws: { endpoint: aws.url, credentials: CREDENTIALS }, iot: { endpoint: iot.url, credentials: CREDENTIALS }, say: (l) => said.push(l) });
    assert.equal(amazon.skills.has(result.skillId), false);
    assert.equal(aws.functions.has('porchlight-relay'), false);
    assert.equal(iot.certificates.size, 0);
    assert.equal(iot.policies.size, 0);
    assert.ok(aws.functions.has('porchlight-skill'), 'another setup\'s function is untouched');
    assert.equal(JSON.parse(readFileSync(join(dir, 'secrets.json'), 'utf8')).relay, undefined);
  });

  test('no secret, token or key in anything said', () => {
    const text = lines.join('\n');
    const state = readSkillState(dataDir());
    for (const secret of [amazon.clientSecret, PROXY_SECRET, state.lwa!.refreshToken, state.lwa!.accessToken!, ...[...amazon.skills.values()].map((s) => s.credentials.clientSecret)]) {
      assert.ok(!text.includes(secret), `a secret was said: ${secret.slice(0, 6)}…`);
    }
    assert.doesNotMatch(text, /PRIVATE KEY|Atza\||Atzr\|/);
  });

  function bridgeConfig() {
    return withSecrets(loadConfigFile(join(bridge.dir, 'porchlight.yaml'), {}).config, 'test');
  }
});
