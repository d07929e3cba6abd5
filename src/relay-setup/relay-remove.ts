/**
 * `porchlight skill remove`'s relay part: the IoT certificates and policies `relay setup` made for
 * this bridge id (recorded in dataDir/relay/relay-setup.json), deactivated, detached and deleted,
 * with the key files. Anything not recorded there is not touched.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  DeleteCertificateCommand, DeletePolicyCommand, DeletePolicyVersionCommand, DetachPolicyCommand, IoTClient, ListAttachedPoliciesCommand, ListPolicyVersionsCommand,
  UpdateCertificateCommand,
} from '@aws-sdk/client-iot';
import { awsCall, explainAwsError, isAwsNotFound } from '../util/aws-errors.ts';
import { policyName } from './relay-setup-plan.ts';

const PERMISSIONS_LISTED = 'README "Alexa in one command"';
const call = <T>(action: string, run: () => Promise<T>) => awsCall(action, PERMISSIONS_LISTED, run);

interface RecordedRelay {
  region?: string;
  certificates?: Record<string, { certificateId: string; certificateArn: string }>;
}

export interface RelayRemoveOptions {
  region: string;
  bridgeId: string;
  dataDir: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  say: (line: string) => void;
}

export async function relayRemove(options: RelayRemoveOptions): Promise<string[]> {
  const dir = join(options.dataDir, 'relay');
  const statePath = join(dir, 'relay-setup.json');
  const recorded: RecordedRelay = existsSync(statePath) ? JSON.parse(readFileSync(statePath, 'utf8')) as RecordedRelay : {};
  const iot = new IoTClient({ region: options.region, ...(options.endpoint && { endpoint: options.endpoint }), ...(options.credentials && { credentials: options.credentials }) });
  const removed: string[] = [];
  const ignoreMissing = async (action: string, run: () => Promise<unknown>) => {
    try {
      await run();
    } catch (err) {
      if (!isAwsNotFound(err)) throw explainAwsError(err, action, PERMISSIONS_LISTED);
    }
  };
  try {
    for (const [role, certificate] of Object.entries(recorded.certificates ?? {})) {
      const { certificateId, certificateArn } = certificate;
      const attached = await call('iot:ListAttachedPolicies', () => iot.send(new ListAttachedPoliciesCommand({ target: certificateArn }))).catch((err: unknown) => {
        if (isAwsNotFound(err)) return { policies: [] };
        throw err;
      });
      for (const policy of attached.policies ?? []) {
        await ignoreMissing('iot:DetachPolicy', () => iot.send(new DetachPolicyCommand({ policyName: policy.policyName, target: certificateArn })));
      }
      await ignoreMissing('iot:UpdateCertificate', () => iot.send(new UpdateCertificateCommand({ certificateId, newStatus: 'INACTIVE' })));
      await ignoreMissing('iot:DeleteCertificate', () => iot.send(new DeleteCertificateCommand({ certificateId })));
      removed.push(`${role} certificate ${certificateId.slice(0, 12)}…`);
    }
    for (const role of ['bridge', 'skill'] as const) {
      const name = policyName(options.bridgeId, role);
      const versions = await iot.send(new ListPolicyVersionsCommand({ policyName: name })).catch((err: unknown) => {
        if (isAwsNotFound(err)) return undefined;
        throw explainAwsError(err, 'iot:ListPolicyVersions', PERMISSIONS_LISTED);
      });
      if (!versions) continue;
      // A policy with versions besides the default cannot be deleted.
      for (const version of versions.policyVersions ?? []) {
        if (!version.isDefaultVersion) await ignoreMissing('iot:DeletePolicyVersion', () => iot.send(new DeletePolicyVersionCommand({ policyName: name, policyVersionId: version.versionId })));
      }
      await ignoreMissing('iot:DeletePolicy', () => iot.send(new DeletePolicyCommand({ policyName: name })));
      removed.push(`policy ${name}`);
    }
  } finally {
    iot.destroy();
  }
  rmSync(dir, { recursive: true, force: true });
  for (const line of removed) options.say(`✔ relay ${line} deleted`);
  return removed;
}
