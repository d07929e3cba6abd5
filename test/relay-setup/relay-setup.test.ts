/**
 * `porchlight relay setup` against a local fake of AWS IoT and Lambda (test/fixtures/fake-aws-iot.ts)
 * through the AWS SDK's endpoint setting: what it creates, that a second run creates nothing,
 * least-privilege policies, keys made here, a merged Lambda environment, and errors that name
 * the missing permission.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { relaySetup, RelaySetupError, type RelaySetupOptions } from '../../src/relay-setup/relay-setup.ts';
import { alexaRegionCheck, relayPolicy } from '../../src/relay-setup/relay-setup-plan.ts';
import { FAKE_ACCOUNT, startFakeAws, type FakeAws } from '../fixtures/fake-aws-iot.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CREDENTIALS = { accessKeyId: 'AKIAFAKEFAKEFAKE', secretAccessKey: 'fake-secret-access-key' };

describe('porchlight relay setup', () => {
  const dir = mkdtempSync(join(tmpdir(), 'porchlight-relay-setup-'));
  let aws: FakeAws;
  const lines: string[] = [];
  const options = (extra: Partial<RelaySetupOptions> = {}): RelaySetupOptions => ({
    region: 'us-east-1', bridgeId: 'home', dataDir: join(dir, 'data'), endpoint: aws.url, credentials: CREDENTIALS, say: (line) => lines.push(line), ...extra,
  });

  before(async () => {
    aws = await startFakeAws({ region: 'us-east-1', lambdaEnv: { PROXY_SECRET: 'kept-proxy-secret', OTHER: 'kept' } });
  });
  after(async () => {
    await aws?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('first run: two certificates from keys made here, two least-privilege policies, attached; the Lambda env merged', async () => {
    const result = await relaySetup(options({ lambda: 'porchlight-skill' }));
    assert.equal(aws.certificates.size, 2);
    assert.deepEqual([...aws.policies.keys()].sort(), ['porchlight-home-bridge', 'porchlight-home-skill']);
    assert.equal(aws.attachments.size, 2);
    assert.equal(result.created.length, 6);
    // The bridge's key stays here, 0600, and is the key of the certificate IoT signed.
    const key = join(dir, 'data', 'relay', 'bridge.key');
    assert.equal(statSync(key).mode & 0o777, 0o600);
    const cert = new X509Certificate(readFileSync(join(dir, 'data', 'relay', 'bridge.crt')));
    assert.ok(cert.checkPrivateKey(createPrivateKey(readFileSync(key))));
    assert.ok(cert.verify(new X509Certificate(aws.caCert).publicKey), 'signed by the fake IoT CA');
    // What IoT received was a CSR (the fake has openssl verify its signature), never a key.
    for (const { csr } of aws.certificates.values()) {
      assert.match(csr, /BEGIN CERTIFICATE REQUEST/);
      assert.doesNotMatch(csr, /PRIVATE KEY/);
    }
    const bridgePolicy = JSON.parse(aws.policies.get('porchlight-home-bridge')!.document);
    assert.deepEqual(bridgePolicy, relayPolicy('bridge', 'us-east-1', FAKE_ACCOUNT, 'home'));
    assert.deepEqual(bridgePolicy.Statement.map((s: any) => `${s.Action} ${s.Resource}`), [
      `iot:Connect arn:aws:iot:us-east-1:${FAKE_ACCOUNT}:client/porchlight-home-bridge`,
      `iot:Subscribe arn:aws:iot:us-east-1:${FAKE_ACCOUNT}:topicfilter/porchlight/home/directives`,
      `iot:Receive arn:aws:iot:us-east-1:${FAKE_ACCOUNT}:topic/porchlight/home/directives`,
      `iot:Publish arn:aws:iot:us-east-1:${FAKE_ACCOUNT}:topic/porchlight/home/replies/*`,
    ]);
    const skillPolicy = JSON.parse(aws.policies.get('porchlight-home-skill')!.document);
    assert.deepEqual(skillPolicy.Statement.map((s: any) => `${s.Action} ${s.Resource.split(':').slice(5).join(':')}`), [
      'iot:Connect client/porchlight-home-skill-*',
      'iot:Publish topic/porchlight/home/directives',
      'iot:Subscribe topicfilter/porchlight/home/replies/${iot:ClientId}',
      'iot:Receive topic/porchlight/home/replies/${iot:ClientId}',
    ]);
    assert.equal(aws.lambdaEnv.RELAY_URL, 'mqtts://abc123fake-ats.iot.us-east-1.amazonaws.com:8883');
    assert.equal(aws.lambdaEnv.RELAY_BRIDGE_ID, 'home');
    assert.match(aws.lambdaEnv.RELAY_KEY!, /BEGIN PRIVATE KEY/);
    assert.equal(aws.lambdaEnv.PROXY_SECRET, 'kept-proxy-secret');
    assert.equal(aws.lambdaEnv.OTHER, 'kept');
    assert.equal(result.lambdaUpdated, true);
    assert.match(result.configBlock, /^relay:\n {2}url: mqtts:\/\/abc123fake-ats\.iot\.us-east-1\.amazonaws\.com:8883\n {2}bridgeId: home\n/);
    assert.ok(lines.every((line) => !/PRIVATE KEY|BEGIN CERTIFICATE/.test(line)), 'nothing secret said');
  });

  test('second run: nothing created, nothing attached, the Lambda left alone', async () => {
    const callsBefore = aws.calls.length;
    const result = await relaySetup(options({ lambda: 'porchlight-skill' }));
    const calls = aws.calls.slice(callsBefore);
    assert.deepEqual(result.created, []);
    assert.equal(result.lambdaUpdated, false);
    for (const write of ['iot:CreateCertificateFromCsr', 'iot:CreatePolicy', 'iot:CreatePolicyVersion', 'iot:AttachPolicy', 'lambda:UpdateFunctionConfiguration']) {
      assert.ok(!calls.includes(write), `${write} called on the second run`);
    }
    assert.equal(aws.certificates.size, 2);
  });

  test('a certificate deactivated in the console is replaced; a policy edited by hand gets a new default version', async () => {
    const [id] = [...aws.certificates.entries()].find(([, c]) => c.csr && c.status === 'ACTIVE')!;
    aws.certificates.get(id)!.status = 'INACTIVE';
    aws.policies.get('porchlight-home-skill')!.document = '{"Version":"2012-10-17","Statement":[]}';
    const result = await relaySetup(options());
    assert.equal(aws.certificates.size, 3);
    assert.ok(result.created.some((c) => c.startsWith('policy porchlight-home-skill (new default version)')));
  });

  test('a refused action is named; a Lambda region Alexa never calls is warned about', async () => {
    aws.deny.add('iot:DescribeEndpoint');
    await assert.rejects(relaySetup(options()), (err: unknown) => err instanceof RelaySetupError && err.code === 'ACCESS_DENIED' && /iot:DescribeEndpoint/.test(err.message));
    aws.deny.clear();
    assert.deepEqual(alexaRegionCheck('eu-west-1'), { serves: 'Europe and India' });
    assert.match(alexaRegionCheck('ap-south-1').warning!, /never called by Alexa.*us-east-1.*eu-west-1.*us-west-2/);
    const result = await relaySetup(options({ region: 'ap-south-1', dataDir: join(dir, 'data-ap') }));
    assert.match(result.warnings[0]!, /a Lambda in ap-south-1 is never called by Alexa/);
  });

  test('the CLI: porchlight relay setup prints the relay: block and the Lambda env (the SDK finds the fake through AWS_ENDPOINT_URL)', async () => {
    const config = join(dir, 'cli.yaml');
    writeFileSync(config, `dataDir: ${join(dir, 'cli-data')}\ncameras:\n  - id: a\n    name: A\n    url: rtsp://127.0.0.1:9/x\n`);
    const { stdout } = await promisify(execFile)(join(ROOT, 'scripts/node.sh'), [join(ROOT, 'src/main.ts'), 'relay', 'setup', '--region', 'us-east-1', '--bridge-id', 'cli', '--config', config], {
      env: { ...process.env, PORCHLIGHT_NODE: process.execPath, AWS_ENDPOINT_URL: aws.url, AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey, AWS_PROFILE: '' },
      timeout: 60_000,
    });
    assert.match(stdout, /^relay:\n {2}url: mqtts:\/\/abc123fake-ats\.iot\.us-east-1\.amazonaws\.com:8883\n {2}bridgeId: cli\n/m);
    assert.match(stdout, /^RELAY_URL="mqtts:\/\/abc123fake-ats/m);
    assert.match(stdout, /^RELAY_KEY="-----BEGIN PRIVATE KEY-----/m, 'printed for the user to paste, as --help says');
    assert.ok(aws.policies.has('porchlight-cli-bridge'));
  });

  test('a hostile AWS: an endpoint with newlines, a junk or foreign certificate, error text with escapes and a key are refused or cleaned, nothing written', async () => {
    // Before: the endpoint's newlines put `ca: /etc/passwd` and `server: publicPort: 443` into the printed relay: block and RELAY_URL.
    const dataDir = join(dir, 'data-hostile');
    aws.hostile.endpointAddress = 'abc.iot.us-east-1.amazonaws.com:8883\n  ca: /etc/passwd\nserver:\n  publicPort: 443\n#';
    await assert.rejects(relaySetup(options({ dataDir })), /not a host name: nothing was written/);
    aws.hostile = {};
    // Before: a junk certificatePem was written and the run exited 0.
    const certificatesBefore = aws.certificates.size;
    aws.hostile.certificatePem = 'not a certificate';
    await assert.rejects(relaySetup(options({ dataDir })), /not a PEM certificate: nothing was written/);
    aws.hostile.certificatePem = aws.caCert;
    await assert.rejects(relaySetup(options({ dataDir })), /a certificate for another key: nothing was written/);
    assert.equal(existsSync(join(dataDir, 'relay', 'bridge.crt')), false);
    assert.equal(existsSync(join(dataDir, 'relay', 'bridge.key')), false);
    assert.ok(aws.certificates.size > certificatesBefore);
    aws.hostile = {};
    // Before: AWS's error text was printed raw: terminal escapes, and RELAY_KEY when an error echoed the variables.
    aws.hostile.errorMessage = 'bad \u001b[31mred\u001b[0m\r\nfake line RELAY_KEY=-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----';
    await assert.rejects(relaySetup(options({ dataDir })), (err: Error) => {
      assert.doesNotMatch(err.message, /[\u0000-\u001f]|PRIVATE KEY|MIGHAgEA/);
      assert.match(err.message, /bad red fake line RELAY_KEY=\[PEM removed\]/);
      return true;
    });
    aws.hostile = {};
  });

  test('a new --bridge-id gets its own certificates (before: it reused the old ones), and the old ones are pointed out', async () => {
    const dataDir = join(dir, 'data-ids');
    await relaySetup(options({ dataDir, bridgeId: 'first' }));
    const firstCert = readFileSync(join(dataDir, 'relay', 'bridge.crt'), 'utf8');
    const result = await relaySetup(options({ dataDir, bridgeId: 'second' }));
    assert.notEqual(readFileSync(join(dataDir, 'relay', 'bridge.crt'), 'utf8'), firstCert);
    assert.equal(result.created.filter((c) => /^(bridge|skill) certificate /.test(c)).length, 2);
    assert.equal(result.warnings.filter((w) => /bridge id first stay in IoT/.test(w)).length, 1);
  });

  test('an environment over AWS\'s 4 KB is refused before the Lambda is touched', async () => {
    aws.lambdaEnv = { PROXY_SECRET: 'x', BIG: 'y'.repeat(3500) };
    const updatesBefore = aws.calls.filter((c) => c === 'lambda:UpdateFunctionConfiguration').length;
    await assert.rejects(relaySetup(options({ lambda: 'porchlight-skill' })), /over AWS's 4 KB/);
    assert.equal(aws.calls.filter((c) => c === 'lambda:UpdateFunctionConfiguration').length, updatesBefore);
  });
});
