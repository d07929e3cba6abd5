/**
 * `npx porchlight skill …` as a user runs it: a real process finding the fakes only through the
 * documented endpoint variables (PORCHLIGHT_SMAPI_URL, PORCHLIGHT_LWA_*_URL, AWS_ENDPOINT_URL),
 * the browser's address pasted on stdin, `skill status --json`, usage errors, and no secret in
 * any output.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { startFakeAmazonDeveloper, type FakeAmazonDeveloper } from '../fixtures/fake-amazon-developer.ts';
import { startFakeAwsSkill, type FakeAwsSkill } from '../fixtures/fake-aws-skill.ts';

const BIN = fileURLToPath(new URL('../../bin/porchlight', import.meta.url));
const PROXY_SECRET = 'cli-proxy-secret-0123456789abcdef';

interface Run { code: number | null; stdout: string; stderr: string }

describe('porchlight skill (the command)', () => {
  let amazon: FakeAmazonDeveloper;
  let aws: FakeAwsSkill;
  const dir = mkdtempSync(join(tmpdir(), 'porchlight-skill-cli-'));
  const config = join(dir, 'porchlight.yaml');
  const outputs: string[] = [];

  before(async () => {
    aws = await startFakeAwsSkill({ region: 'eu-west-1' });
    amazon = await startFakeAmazonDeveloper();
    writeFileSync(config, `dataDir: ${join(dir, 'data')}\nserver:\n  port: 9\n  proxySecret: ${PROXY_SECRET}\ncameras:\n  - id: demo\n    name: Demo\n    url: file:${DEMO_CLIP}\n`);
  });
  after(async () => {
    await Promise.all([amazon?.close(), aws?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const env = () => ({
    PORCHLIGHT_NODE: process.execPath,
    PORCHLIGHT_SMAPI_URL: amazon.url,
    PORCHLIGHT_LWA_AUTHORIZE_URL: `${amazon.url}/ap/oa`,
    PORCHLIGHT_LWA_TOKEN_URL: `${amazon.url}/auth/o2/token`,
    AWS_ENDPOINT_URL: aws.url,
    AWS_ACCESS_KEY_ID: 'AKIAFAKECLI',
    AWS_SECRET_ACCESS_KEY: 'fake-secret-cli-0123456789',
    AWS_PROFILE: '',
    LWA_CLIENT_ID: amazon.clientId,
    LWA_CLIENT_SECRET: amazon.clientSecret,
  });

  /** Runs the command; when it prints the authorize address, a "browser on another machine" follows it and the address it ends on is pasted. */
  function run(args: string[], timeoutMs = 60_000): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(BIN, args, { env: { ...process.env, ...env() }, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      const deadline = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`porchlight ${args.join(' ')} did not finish:\n${stdout}\n${stderr}`));
      }, timeoutMs);
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk;
        const address = stdout.split('\n').find((line) => line.startsWith(`${amazon.url}/ap/oa?`));
        if (address && !child.stdin.writableEnded) {
          fetch(address, { redirect: 'manual' }).then((answer) => {
            child.stdin.write(`${answer.headers.get('location')}\n`);
            child.stdin.end();
          }, reject);
        }
      });
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
      child.on('close', (code) => {
        clearTimeout(deadline);
        outputs.push(stdout, stderr);
        resolve({ code, stdout, stderr });
      });
    });
  }

  test('skill setup --region eu-west-1 --bridge-url …: signs in by a pasted address, deploys, exits 0; a second run writes nothing', async () => {
    const first = await run(['skill', 'setup', '--region', 'eu-west-1', '--bridge-url', 'https://porchlight.example.net', '--callback-port', '19190', '--config', config]);
    assert.equal(first.code, 0, `${first.stdout}\n${first.stderr}`);
    assert.match(first.stdout, /^✔ skill porchlight \(amzn1\.ask\.skill\.[^)]+\) created$/m);
    assert.match(first.stdout, /^✔ function porchlight-skill created/m);
    assert.match(first.stdout, /^ {7}https:\/\/layla\.amazon\.com\/api\/skill\/link\/M2FAKEVENDOR1$/m);
    const fn = aws.functions.get('porchlight-skill')!;
    assert.equal(fn.environment.BRIDGE_URL, 'https://porchlight.example.net');
    assert.equal(fn.arn.split(':')[3], 'eu-west-1');
    const skill = [...amazon.skills.values()][0]!;
    assert.deepEqual(Object.keys(skill.manifest.apis.smartHome.regions), ['EU']);

    const second = await run(['skill', 'setup', '--region', 'eu-west-1', '--bridge-url', 'https://porchlight.example.net', '--config', config]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /^Nothing to change/m);
    assert.doesNotMatch(second.stdout, /\/ap\/oa\?/, 'no second login');
  });

  test('skill status --json: the cloud side ✔, the bridge not running named, exit 1', async () => {
    const status = await run(['skill', 'status', '--json', '--config', config]);
    assert.equal(status.code, 1);
    const { ok, items } = JSON.parse(status.stdout);
    assert.equal(ok, false);
    const byId = Object.fromEntries(items.map((i: any) => [i.id, i]));
    for (const id of ['login', 'skill', 'lambda', 'trigger', 'proxy-secret', 'endpoint', 'account-linking']) assert.equal(byId[id].ok, true, `${id}: ${byId[id].what}`);
    assert.equal(byId.bridge.ok, false);
    assert.match(byId.bridge.what, /does not answer at http:\/\/127\.0\.0\.1:9/);
    const text = await run(['skill', 'status', '--config', config]);
    assert.match(text.stdout, /^✘ Alexa has never called this bridge\n {4}→ Alexa only calls a function in the region of your Alexa account/m);
  });

  test('usage errors exit 2 before anything is written; --bridge-url http:// needs --allow-insecure-bridge', async () => {
    const fresh = join(dir, 'fresh.yaml');
    writeFileSync(fresh, `dataDir: ${join(dir, 'fresh-data')}\ncameras:\n  - id: demo\n    name: Demo\n    url: file:${DEMO_CLIP}\n`);
    for (const args of [
      ['skill', 'setup', '--region', 'ap-south-1', '--config', fresh],
      ['skill', 'setup', '--config', fresh],
      ['skill', 'setup', '--region', 'us-east-1', '--bridge-url', 'http://home.example:8080', '--config', fresh],
      ['skill', 'setup', '--region', 'us-east-1', '--frobnicate', '--config', fresh],
      ['skill', 'configure'],
    ]) {
      const result = await run(args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    }
    assert.equal(existsSync(join(dir, 'fresh-data')), false);
  });

  test('skill remove --yes deletes the skill and the function it made', async () => {
    const removed = await run(['skill', 'remove', '--yes', '--config', config]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(amazon.skills.size, 0);
    assert.equal(aws.functions.size, 0);
    assert.equal(aws.roles.size, 0);
  });

  test('no token, client secret or proxy secret in any output', () => {
    const text = outputs.join('\n');
    for (const secret of [amazon.clientSecret, PROXY_SECRET, 'fake-secret-cli-0123456789']) assert.ok(!text.includes(secret), `${secret.slice(0, 6)}… printed`);
    assert.doesNotMatch(text, /Atza\||Atzr\|/);
  });
});
