import { parseArgs } from 'node:util';
import { resolveConfigPath } from '../config/config-file.ts';
import { loadConfigFile } from '../config/load.ts';
import { withSecrets } from '../config/secrets.ts';
import { BRIDGE_ID_PATTERN } from '../relay/topics.ts';

export const RELAY_SETUP_USAGE = `usage: porchlight relay setup --region REGION [--bridge-id home] [--lambda FUNCTION] [--config FILE]

Sets up the relay through AWS IoT Core in your own account (README "No port forwarding"), with
the AWS SDK's standard credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID…): an EC P-256 key and a
certificate for the bridge and for the skill Lambda (keys are made here; IoT only signs their
CSRs), IoT policies that let each do its part only, and the account's MQTT endpoint. The bridge's
files go to <dataDir>/relay/ (mode 0600); it prints the relay: block for the config.

  --region      the region of the skill's Lambda (us-east-1, eu-west-1 or us-west-2)
  --bridge-id   topic namespace, letters, digits, _ and - (default home)
  --lambda      set RELAY_URL, RELAY_BRIDGE_ID, RELAY_CERT and RELAY_KEY on this function
                (and PROXY_SECRET when it has none); without it they are printed, the
                skill's private key included, for you to paste into the Lambda's settings
  --config      the bridge's configuration (for its dataDir and proxy secret)

Running it again changes nothing that is in place.`;

export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export async function relaySetupCli(argv: string[], io: CliIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        region: { type: 'string' },
        'bridge-id': { type: 'string', default: 'home' },
        lambda: { type: 'string' },
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    io.stderr(`porchlight relay setup: ${(err as Error).message}\n${RELAY_SETUP_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout(`${RELAY_SETUP_USAGE}\n`);
    return 0;
  }
  const region = values.region ?? io.env.AWS_REGION;
  if (!region) {
    io.stderr(`porchlight relay setup: --region is required (the region of the skill's Lambda)\n${RELAY_SETUP_USAGE}\n`);
    return 2;
  }
  const bridgeId = values['bridge-id'];
  if (!BRIDGE_ID_PATTERN.test(bridgeId)) {
    io.stderr('porchlight relay setup: --bridge-id must be 1–64 letters, digits, _ or -\n');
    return 2;
  }
  const { relaySetup, RelaySetupError } = await import('./relay-setup.ts');
  try {
    const { config: file, source } = loadConfigFile(resolveConfigPath(values.config, io.env));
    const config = withSecrets(file, source);
    const result = await relaySetup({
      region,
      bridgeId,
      dataDir: config.dataDir,
      proxySecret: config.server.proxySecret,
      ...(values.lambda && { lambda: values.lambda }),
      say: (line) => io.stdout(`${line}\n`),
    });
    for (const warning of result.warnings) io.stderr(`warning: ${warning}\n`);
    io.stdout(`\nAdd to the bridge's configuration (paths may be made relative to it):\n\n${result.configBlock}\n`);
    if (values.lambda) {
      io.stdout(result.lambdaUpdated ? `The Lambda ${values.lambda} is set up for the relay.\n` : `The Lambda ${values.lambda} was already set up.\n`);
    } else {
      io.stdout('\nSet these on the skill Lambda (Configuration → Environment variables), with PROXY_SECRET as before:\n\n');
      for (const [name, value] of Object.entries(result.lambdaEnv)) io.stdout(`${name}=${JSON.stringify(value)}\n`);
    }
    return 0;
  } catch (err) {
    const message = err instanceof RelaySetupError ? err.message : (err as Error).message;
    io.stderr(`porchlight relay setup: ${message}\n`);
    return 1;
  }
}
