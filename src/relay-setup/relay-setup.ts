/**
 * `porchlight relay setup`: makes what AWS IoT Core needs for the relay, in the user's own
 * account, with the SDK's standard credential chain. Keys are made here (EC P-256) and only their
 * CSRs travel: IoT signs them (CreateCertificateFromCsr). Idempotent: a second run reuses the
 * certificates in dataDir while IoT says they are active, creates a policy only when it is
 * missing (a new default version only when it differs), attaches only what is not attached, and
 * updates the Lambda only when its environment would change.
 */
import 'reflect-metadata'; // @peculiar/x509 needs it; only this command loads the module
import { createPrivateKey, webcrypto, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AttachPolicyCommand, CreateCertificateFromCsrCommand, CreatePolicyCommand, CreatePolicyVersionCommand, DescribeCertificateCommand,
  DescribeEndpointCommand, GetPolicyCommand, IoTClient, ListAttachedPoliciesCommand,
} from '@aws-sdk/client-iot';
import { GetFunctionConfigurationCommand, LambdaClient, UpdateFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import * as x509 from '@peculiar/x509';
import {
  accountOf, alexaRegionCheck, envBytes, LAMBDA_ENV_LIMIT_BYTES, lambdaRelayEnv, policyName, relayConfigBlock, relayPolicy, samePolicy, type Role,
} from './relay-setup-plan.ts';
import { bridgeClientId } from '../relay/topics.ts';
import { awsCall, AwsSetupError, explainAwsError, isAwsNotFound } from '../util/aws-errors.ts';
import { isHostName, printable } from '../util/printable.ts';

export interface RelaySetupOptions {
  region: string;
  bridgeId: string;
  dataDir: string;
  /** Set the relay's env on this function (GetFunctionConfiguration + UpdateFunctionConfiguration). */
  lambda?: string;
  /** The bridge's proxy secret, given to the Lambda as PROXY_SECRET when it has none. */
  proxySecret?: string;
  /** Tests: a local fake of the control-plane APIs, and credentials for it. */
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  say: (line: string) => void;
}

export interface RelaySetupResult {
  endpoint: string;
  created: string[];
  configBlock: string;
  /** The Lambda's relay env (values include the skill's key: printed only when not set with --lambda). */
  lambdaEnv: Record<string, string>;
  lambdaUpdated: boolean;
  warnings: string[];
  /** The bridge's certificate and key files (in dataDir/relay/). */
  bridgeFiles: { cert: string; key: string };
}

/** An AWS refusal or a missing credential, said so a user can act on it. */
export const RelaySetupError = AwsSetupError;
export type RelaySetupError = AwsSetupError;

const PERMISSIONS_LISTED = 'README "No port forwarding"';

const call = <T>(action: string, run: () => Promise<T>): Promise<T> => awsCall(action, PERMISSIONS_LISTED, run);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

async function keyAndCsr(commonName: string): Promise<{ keyPem: string; csrPem: string }> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${commonName}`, keys, signingAlgorithm: ALG });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`;
  return { keyPem, csrPem: csr.toString('pem') };
}

/** Why a certificate IoT returned cannot be used with this key, or undefined. */
function certificateProblem(certPem: string, keyPem: string): string | undefined {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certPem);
  } catch {
    return 'something that is not a PEM certificate';
  }
  return certificate.checkPrivateKey(createPrivateKey(keyPem)) ? undefined : 'a certificate for another key';
}

function writeSecret(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600); // an existing file keeps its mode otherwise
}

interface State {
  region?: string;
  bridgeId?: string;
  certificates?: Partial<Record<Role, { certificateId: string; certificateArn: string }>>;
}

export async function relaySetup(options: RelaySetupOptions): Promise<RelaySetupResult> {
  const { region, bridgeId, say } = options;
  const client = { region, ...(options.endpoint && { endpoint: options.endpoint }), ...(options.credentials && { credentials: options.credentials }) };
  const iot = new IoTClient(client);
  const lambda = new LambdaClient(client);
  const dir = join(options.dataDir, 'relay');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const statePath = join(dir, 'relay-setup.json');
  const state: State = existsSync(statePath) ? JSON.parse(readFileSync(statePath, 'utf8')) as State : {};
  const created: string[] = [];
  const warnings: string[] = [];
  const regionCheck = alexaRegionCheck(region);
  if (regionCheck.warning) warnings.push(regionCheck.warning);
  else say(`${region} serves Alexa's ${regionCheck.serves} skills`);

  try {
    const { endpointAddress } = await call('iot:DescribeEndpoint', () => iot.send(new DescribeEndpointCommand({ endpointType: 'iot:Data-ATS' })));
    if (!endpointAddress) throw new AwsSetupError('AWS_ERROR', 'iot:DescribeEndpoint returned no address');
    // It goes into RELAY_URL and the printed relay: block: a host name and nothing else.
    if (!isHostName(endpointAddress)) throw new AwsSetupError('AWS_ERROR', `iot:DescribeEndpoint returned "${printable(endpointAddress, 80)}", which is not a host name: nothing was written`);
    const files = (role: Role) => ({ cert: join(dir, `${role}.crt`), key: join(dir, `${role}.key`) });
    const certificates: Partial<Record<Role, { certificateArn: string; certPem: string; keyPem: string }>> = {};
    // Certificates belong to one bridge id (their policies name its topics): another id gets its own.
    const previousBridge = state.bridgeId ?? bridgeId;
    const sameBridge = previousBridge === bridgeId;
    if (!sameBridge) {
      warnings.push(`the certificates made for bridge id ${previousBridge} stay in IoT with their policies: remove them in the IoT console if that bridge is gone`);
      state.certificates = {};
    }
    for (const role of ['bridge', 'skill'] as const) {
      const paths = files(role);
      const known = sameBridge && state.region === region ? state.certificates?.[role] : undefined;
      if (known && existsSync(paths.cert) && existsSync(paths.key)) {
        const description = await iot.send(new DescribeCertificateCommand({ certificateId: known.certificateId })).catch((err: unknown) => {
          if (isAwsNotFound(err)) return undefined; // deleted in the console: make a new one
          throw explainAwsError(err, 'iot:DescribeCertificate', PERMISSIONS_LISTED);
        });
        if (description?.certificateDescription?.status === 'ACTIVE') {
          certificates[role] = { certificateArn: known.certificateArn, certPem: readFileSync(paths.cert, 'utf8'), keyPem: readFileSync(paths.key, 'utf8') };
          say(`${role} certificate ${known.certificateId.slice(0, 12)}… is active: kept`);
          continue;
        }
      }
      const { keyPem, csrPem } = await keyAndCsr(role === 'bridge' ? bridgeClientId(bridgeId) : `porchlight-${bridgeId}-skill`);
      const made = await call('iot:CreateCertificateFromCsr', () => iot.send(new CreateCertificateFromCsrCommand({ certificateSigningRequest: csrPem, setAsActive: true })));
      if (!made.certificateArn || !made.certificateId || !made.certificatePem) throw new AwsSetupError('AWS_ERROR', 'iot:CreateCertificateFromCsr returned no certificate');
      const problem = certificateProblem(made.certificatePem, keyPem);
      if (problem) throw new AwsSetupError('AWS_ERROR', `iot:CreateCertificateFromCsr returned ${problem}: nothing was written`);
      if (!/^[0-9a-f]{64}$/.test(made.certificateId)) throw new AwsSetupError('AWS_ERROR', 'iot:CreateCertificateFromCsr returned a malformed certificate id: nothing was written');
      writeSecret(paths.key, keyPem);
      writeSecret(paths.cert, made.certificatePem);
      state.region = region;
      state.bridgeId = bridgeId;
      state.certificates = { ...state.certificates, [role]: { certificateId: made.certificateId, certificateArn: made.certificateArn } };
      writeSecret(statePath, `${JSON.stringify(state, null, 2)}\n`);
      certificates[role] = { certificateArn: made.certificateArn, certPem: made.certificatePem, keyPem };
      created.push(`${role} certificate ${made.certificateId}`);
      say(`${role} certificate ${made.certificateId.slice(0, 12)}… created from a key made here`);
    }

    for (const role of ['bridge', 'skill'] as const) {
      const { certificateArn } = certificates[role]!;
      const name = policyName(bridgeId, role);
      const document = relayPolicy(role, region, accountOf(certificateArn), bridgeId);
      const existing = await iot.send(new GetPolicyCommand({ policyName: name })).catch((err: unknown) => {
        if (isAwsNotFound(err)) return undefined;
        throw explainAwsError(err, 'iot:GetPolicy', PERMISSIONS_LISTED);
      });
      if (!existing) {
        await call('iot:CreatePolicy', () => iot.send(new CreatePolicyCommand({ policyName: name, policyDocument: JSON.stringify(document) })));
        created.push(`policy ${name}`);
        say(`policy ${name} created`);
      } else if (!samePolicy(existing.policyDocument ?? '', document)) {
        await call('iot:CreatePolicyVersion', () => iot.send(new CreatePolicyVersionCommand({ policyName: name, policyDocument: JSON.stringify(document), setAsDefault: true })));
        created.push(`policy ${name} (new default version)`);
        say(`policy ${name} differed: a new default version was made`);
      }
      const attached = await call('iot:ListAttachedPolicies', () => iot.send(new ListAttachedPoliciesCommand({ target: certificateArn })));
      if (!attached.policies?.some((policy) => policy.policyName === name)) {
        await call('iot:AttachPolicy', () => iot.send(new AttachPolicyCommand({ policyName: name, target: certificateArn })));
        created.push(`attachment ${name} → ${role} certificate`);
      }
    }

    const lambdaEnv = lambdaRelayEnv(endpointAddress, bridgeId, certificates.skill!.certPem, certificates.skill!.keyPem);
    let lambdaUpdated = false;
    if (options.lambda) {
      const functionName = options.lambda;
      const current = await call('lambda:GetFunctionConfiguration', () => lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName })));
      const before = current.Environment?.Variables ?? {};
      const variables: Record<string, string> = { ...before, ...lambdaEnv };
      if (!variables.PROXY_SECRET && options.proxySecret) variables.PROXY_SECRET = options.proxySecret;
      if (!variables.PROXY_SECRET) warnings.push(`the Lambda ${functionName} has no PROXY_SECRET: set it to the bridge's server.proxySecret`);
      if (envBytes(variables) > LAMBDA_ENV_LIMIT_BYTES) {
        throw new AwsSetupError('ENV_TOO_LARGE', `the Lambda's environment would be ${envBytes(variables)} bytes, over AWS's 4 KB: remove variables it no longer needs (BRIDGE_URL, BRIDGE_CA)`);
      }
      if (JSON.stringify(Object.entries(variables).sort()) !== JSON.stringify(Object.entries(before).sort())) {
        await call('lambda:UpdateFunctionConfiguration', () => lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: functionName, Environment: { Variables: variables } })));
        lambdaUpdated = true;
        say(`the Lambda ${functionName} now reaches the bridge through the relay`);
      }
    }
    return { endpoint: endpointAddress, bridgeFiles: files('bridge'), created, configBlock: relayConfigBlock(endpointAddress, bridgeId, files('bridge').cert, files('bridge').key), lambdaEnv, lambdaUpdated, warnings };
  } finally {
    iot.destroy();
    lambda.destroy();
  }
}
