/**
 * `porchlight skill status`: the checklist from the skill to the bridge, each item ✔ or ✘ with the
 * one fix, in the order the failures happen — login, the skill and its manifest, the function in
 * an Alexa region with the trigger naming the skill and the bridge's proxy secret, then what the
 * bridge saw (the relay, Alexa's last call and Discover, linking, events). Reads only.
 */
import { AlexaActivityLog } from '../cloud/alexa-activity.ts';
import { bridgeChecklist, type BridgeAlexaFacts, type ChecklistItem } from '../cloud/alexa-checklist.ts';
import { TOKENS_KEY } from '../cloud/lwa.ts';
import { RELINK_KEY } from '../cloud/outbox.ts';
import { CloudStore } from '../cloud/store.ts';
import type { Config } from '../config/schema.ts';
import { developerSession } from './skill-setup.ts';
import type { AmazonEndpoints } from './skill-plan.ts';
import { SkillAws, type AwsTarget } from './skill-aws.ts';
import { REGION_CHOICES, secretDigest, skillRegion, triggerFor } from './skill-plan.ts';
import { readSkillState } from './skill-state.ts';
import { SmapiClient } from './smapi.ts';

export interface SkillStatusOptions {
  config: Config;
  amazon: AmazonEndpoints;
  aws?: Omit<AwsTarget, 'region'>;
  /** Where the running bridge answers /readyz (default: its configured port on loopback). */
  bridgeUrl?: string;
}

const SETUP_FIX = 'run porchlight skill setup --region <your Alexa region>';

export async function skillStatus(options: SkillStatusOptions): Promise<ChecklistItem[]> {
  const { config } = options;
  const items: ChecklistItem[] = [];
  const state = readSkillState(config.dataDir);
  const cloud = await cloudChecklist(options, state).catch((err: unknown) => [{ id: 'cloud', ok: false, what: `could not check the skill: ${(err as Error).message}`, fix: 'run the command again; if it persists, porchlight skill setup' }]);
  items.push(...cloud);
  items.push(...await bridgeItems(options));
  return items;
}

async function cloudChecklist(options: SkillStatusOptions, state: ReturnType<typeof readSkillState>): Promise<ChecklistItem[]> {
  const items: ChecklistItem[] = [];
  if (!state.lwa) return [{ id: 'login', ok: false, what: 'no skill set up from this bridge (no login stored)', fix: SETUP_FIX }];
  let smapi: SmapiClient;
  try {
    const session = await developerSession({ dataDir: options.config.dataDir, callbackPort: 0, amazon: options.amazon, say: () => {} }, state, false);
    smapi = new SmapiClient({ url: options.amazon.smapiUrl, session });
    items.push({ id: 'login', ok: true, what: 'signed in to Login with Amazon (the stored token refreshes)' });
  } catch (err) {
    return [{ id: 'login', ok: false, what: (err as Error).message, fix: SETUP_FIX }];
  }

  const skillId = state.skillId;
  const status = skillId ? await smapi.manifestStatus(skillId) : undefined;
  if (!skillId || !status) {
    items.push({ id: 'skill', ok: false, what: skillId ? `skill ${skillId} no longer exists` : 'no skill made yet', fix: SETUP_FIX });
    return items;
  }
  items.push(status.status === 'SUCCEEDED'
    ? { id: 'skill', ok: true, what: `skill porchlight (${skillId}): manifest built` }
    : { id: 'skill', ok: false, what: `skill ${skillId}: manifest ${status.status}${status.errors.length ? `: ${status.errors.join('; ')}` : ''}`, fix: SETUP_FIX });

  const region = state.region ?? '';
  const functionName = state.functionName;
  if (!skillRegion(region) || !functionName) {
    items.push({ id: 'lambda', ok: false, what: functionName ? `the function is in ${region}, which Alexa never calls` : 'no function deployed', fix: `${SETUP_FIX} (${REGION_CHOICES})` });
    return items;
  }
  const aws = new SkillAws({ region, ...options.aws }, () => {});
  try {
    const deployed = await aws.describe(functionName);
    if (!deployed) {
      items.push({ id: 'lambda', ok: false, what: `function ${functionName} not found in ${region}`, fix: SETUP_FIX });
      return items;
    }
    items.push({ id: 'lambda', ok: true, what: `function ${functionName} in ${region} (Alexa ${skillRegion(region)!.alexa})` });
    const trigger = triggerFor(deployed.policy, skillId);
    items.push(trigger.present
      ? { id: 'trigger', ok: true, what: 'its Alexa Smart Home trigger names this skill' }
      : { id: 'trigger', ok: false, what: trigger.otherSkill ? `its Alexa Smart Home trigger names another skill (${trigger.otherSkill})` : 'it has no Alexa Smart Home trigger for this skill', fix: `${SETUP_FIX} (it adds the trigger)` });
    const secret = deployed.environment.PROXY_SECRET;
    // Hashes compared, never the secret shown.
    items.push(secret && secretDigest(secret) === secretDigest(options.config.server.proxySecret)
      ? { id: 'proxy-secret', ok: true, what: 'its PROXY_SECRET is the bridge\'s proxy secret' }
      : { id: 'proxy-secret', ok: false, what: secret ? 'its PROXY_SECRET differs from the bridge\'s proxy secret: the bridge refuses its directives' : 'it has no PROXY_SECRET', fix: `${SETUP_FIX} (it sets PROXY_SECRET)` });
    const manifest = await smapi.manifest(skillId);
    const endpoint = manifest?.manifest.apis?.smartHome?.endpoint?.uri;
    items.push(endpoint === deployed.arn
      ? { id: 'endpoint', ok: true, what: 'the skill\'s endpoint is this function' }
      : { id: 'endpoint', ok: false, what: endpoint ? `the skill's endpoint is ${endpoint}, not this function` : 'the skill has no endpoint', fix: SETUP_FIX });
  } finally {
    aws.close();
  }
  const linking = await smapi.accountLinking(skillId);
  items.push(linking
    ? { id: 'account-linking', ok: true, what: 'account linking set (Login with Amazon)' }
    : { id: 'account-linking', ok: false, what: 'account linking is not set', fix: SETUP_FIX });
  return items;
}

/** What the bridge saw: from the running bridge's /readyz, and from its store when it is down. */
async function bridgeItems(options: SkillStatusOptions): Promise<ChecklistItem[]> {
  const { config } = options;
  const url = options.bridgeUrl ?? `${config.server.tls ? 'https' : 'http'}://127.0.0.1:${config.server.port}`;
  const store = CloudStore.open(config.dataDir);
  let activity;
  let stored: BridgeAlexaFacts['events'];
  try {
    activity = new AlexaActivityLog(store).read();
    // What the bridge would say when it is not running to say it.
    const relink = store.getJson<string>(RELINK_KEY);
    stored = {
      configured: Boolean(config.alexa.clientId && config.alexa.clientSecret),
      linked: store.getJson(TOKENS_KEY) !== undefined,
      relinkNeeded: relink !== undefined,
      ...(relink !== undefined && { lastError: relink }),
    };
  } finally {
    store.close();
  }
  const ready = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(3_000) })
    .then(async (response) => (await response.json()) as { checks?: { alexa?: BridgeAlexaFacts['events']; relay?: { state: string; lastError?: string } } })
    .catch(() => undefined);
  const facts: BridgeAlexaFacts = {
    activity,
    events: ready?.checks?.alexa ?? stored,
    ...(ready?.checks?.relay ? { relay: ready.checks.relay } : config.relay && { relay: { state: 'not running' } }),
  };
  const bridge: ChecklistItem = ready
    ? { id: 'bridge', ok: true, what: `the bridge answers at ${url}` }
    : { id: 'bridge', ok: false, what: `the bridge does not answer at ${url}`, fix: 'start it (npm start -- --config …, or docker compose up -d); the lines below are from its store' };
  return [bridge, ...bridgeChecklist(facts)];
}
