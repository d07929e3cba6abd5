/**
 * `porchlight skill remove`: deletes what `skill setup` made and recorded as its own — the skill,
 * the function, its role, the relay's IoT certificates and policies — and nothing it only found.
 * Without --yes it says what it would delete and changes nothing.
 */
import { readStoredSecrets, secretsFile, updateStoredSecrets } from '../config/secrets.ts';
import { relayRemove } from '../relay-setup/relay-remove.ts';
import { developerSession } from './skill-setup.ts';
import type { AmazonEndpoints } from './skill-plan.ts';
import { SkillAws, type AwsTarget } from './skill-aws.ts';
import { readSkillState, writeSkillState } from './skill-state.ts';
import { SmapiClient } from './smapi.ts';

export interface SkillRemoveOptions {
  dataDir: string;
  yes: boolean;
  amazon: AmazonEndpoints;
  aws?: Omit<AwsTarget, 'region'>;
  iot?: Omit<AwsTarget, 'region'>;
  say: (line: string) => void;
}

/** What would be (or was) deleted, one line each. */
export async function skillRemove(options: SkillRemoveOptions): Promise<{ planned: string[]; removed: boolean }> {
  const { say, dataDir } = options;
  const state = readSkillState(dataDir);
  const created = state.created ?? {};
  const region = state.region;
  const planned = [
    ...(created.skill ? [`skill ${created.skill}`] : []),
    ...(created.function ? [`function ${created.function}`] : []),
    ...(created.role ? [`role ${created.role}`] : []),
    ...(created.relayBridgeId ? [`the relay's IoT certificates and policies (bridge id ${created.relayBridgeId})`] : []),
  ];
  if (planned.length === 0) {
    say('Nothing to remove: skill setup has made nothing recorded in this data directory.');
    return { planned, removed: false };
  }
  if (!options.yes) {
    say('This would delete:');
    for (const line of planned) say(`  - ${line}`);
    say('Run again with --yes to delete them.');
    return { planned, removed: false };
  }
  if (created.skill) {
    const session = await developerSession({ dataDir, callbackPort: 0, amazon: options.amazon, say }, state, false);
    const smapi = new SmapiClient({ url: options.amazon.smapiUrl, session, say });
    say(await smapi.deleteSkill(created.skill) ? `✔ skill ${created.skill} deleted` : `· skill ${created.skill} was already gone`);
    delete created.skill;
    delete state.skillId;
    delete state.accountLinkingSecret;
    writeSkillState(dataDir, state);
  }
  if (region && (created.function || created.role)) {
    const aws = new SkillAws({ region, ...options.aws }, say);
    try {
      if (created.function) {
        say(await aws.deleteFunction(created.function) ? `✔ function ${state.functionName} deleted` : `· function ${state.functionName} was already gone`);
        delete created.function;
        delete state.functionArn;
        writeSkillState(dataDir, state);
      }
      if (created.role && state.functionName) {
        say(await aws.deleteRole(state.functionName) ? `✔ role ${created.role} deleted` : `· role ${created.role} was already gone`);
        delete created.role;
        writeSkillState(dataDir, state);
      }
    } finally {
      aws.close();
    }
  }
  if (region && created.relayBridgeId) {
    await relayRemove({ region, bridgeId: created.relayBridgeId, dataDir, ...options.iot, say });
    delete created.relayBridgeId;
    writeSkillState(dataDir, state);
  }
  // The bridge must not keep dialing a relay that is gone, nor sending events as a deleted skill.
  const stored = readStoredSecrets(dataDir);
  if (stored.alexa || stored.relay) {
    updateStoredSecrets(dataDir, { alexa: undefined, relay: undefined });
    say(`✔ the skill's event credentials and the relay removed from ${secretsFile(dataDir)}: restart the bridge`);
  }
  return { planned, removed: true };
}
