/**
 * The developer's SMAPI access that `porchlight skill setup` stored (dataDir/alexa-skill.json):
 * a fresh access token and the skill id, so `npm run simulate` needs no ALEXA_ACCESS_TOKEN and
 * no --skill-id after setup. Undefined when setup has not run for this configuration.
 */
import { resolveConfigPath } from '../config/config-file.ts';
import { loadConfigFile } from '../config/load.ts';
import { LwaSession } from './lwa-login.ts';
import { amazonEndpoints } from './skill-plan.ts';
import { readSkillState, writeSkillState } from './skill-state.ts';

export async function storedSkillAccess(configPath: string | undefined, env: NodeJS.ProcessEnv): Promise<{ token: string; skillId?: string } | undefined> {
  const { dataDir } = loadConfigFile(resolveConfigPath(configPath, env)).config;
  const state = readSkillState(dataDir);
  if (!state.lwa) return undefined;
  const session = new LwaSession(state.lwa, amazonEndpoints(env), (lwa) => writeSkillState(dataDir, { ...state, lwa }));
  return { token: await session.token(), ...(state.skillId && { skillId: state.skillId }) };
}
