import { parseArgs } from 'node:util';
import { App } from './app.ts';
import { ConfigError, loadConfigFile } from './config/load.ts';
import { secretsFile, withSecrets } from './config/secrets.ts';
import { discoverySessionCli } from './cloud/discovery-session-cli.ts';
import { createLogger, type Logger } from './log.ts';

const USAGE = `usage:
  porchlight [serve] [--config FILE]      run the bridge (the embedded demo camera when no config is given)
  porchlight check-config [--config FILE]  validate a configuration and exit
  porchlight relay setup --region REGION [--bridge-id home] [--lambda FUNCTION]
                                           make the relay through your AWS IoT Core (no inbound port)
  porchlight discovery-session --unit UNIT --skill-id ID [--stage LIVE|DEVELOPMENT] [--api-url URL] [--token T]
                                           ask Alexa Smart Properties to discover the skill's cameras in a unit
The config file may also come from PORCHLIGHT_CONFIG.`;

const CLOSE_DEADLINE_MS = 10_000;

async function main(argv: string[]): Promise<number> {
  // Its own options (--region, --lambda…); loaded only for it (the AWS SDK is large).
  if (argv[0] === 'relay' && argv[1] === 'setup') {
    const { relaySetupCli } = await import('./relay-setup/relay-setup-cli.ts');
    return relaySetupCli(argv.slice(2), { env: process.env, stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) });
  }
  // Its own options (--unit, --skill-id…): parsed by the command itself.
  if (argv[0] === 'discovery-session') {
    return discoverySessionCli(argv.slice(1), {
      env: process.env,
      stdout: (text) => process.stdout.write(text),
      stderr: (text) => process.stderr.write(text),
    });
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    process.stderr.write(`porchlight: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const [command = 'serve', ...rest] = parsed.positionals;
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (rest.length > 0 || !['serve', 'check-config'].includes(command)) {
    process.stderr.write(`porchlight: unknown command "${[command, ...rest].join(' ')}"\n${USAGE}\n`);
    return 2;
  }
  const configPath = parsed.values.config ?? (process.env.PORCHLIGHT_CONFIG || undefined);
  return command === 'check-config' ? checkConfig(configPath) : serve(configPath);
}

function checkConfig(configPath: string | undefined): number {
  try {
    const { config, source } = loadConfigFile(configPath);
    const cameras = config.cameras.map((c) => `${c.id} (${c.kind})`).join(', ');
    process.stdout.write(`OK: ${source}: ${config.cameras.length} camera(s): ${cameras}\n`);
    return 0;
  } catch (err) {
    return reportStartupError(err);
  }
}

async function serve(configPath: string | undefined): Promise<number> {
  let log: Logger;
  try {
    log = createLogger();
  } catch (err) {
    // A bad PORCHLIGHT_LOG_LEVEL or PORCHLIGHT_LOG_FORMAT: there is no logger to say it with.
    return reportStartupError(err);
  }
  let app: App;
  let tokenWhere: string;
  try {
    const { config: file, source } = loadConfigFile(configPath);
    tokenWhere = file.server.adminToken ? 'server.adminToken in the configuration (or PORCHLIGHT_ADMIN_TOKEN)' : `adminToken in ${secretsFile(file.dataDir)}`;
    const config = withSecrets(file, source);
    log.info({ config: source, cameras: config.cameras.map((c) => c.id) }, 'configuration loaded');
    for (const name of config.generatedSecrets) {
      log.warn({ setting: name, file: secretsFile(config.dataDir) },
        `generated ${name} and stored it in ${secretsFile(config.dataDir)} (mode 0600)${name === 'proxySecret' ? ': give it to the skill Lambda as PROXY_SECRET' : ''}`);
    }
    app = new App(config, log);
  } catch (err) {
    return reportStartupError(err);
  }
  const stopped = new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down');
      const deadline = setTimeout(() => {
        log.error('shutdown took too long; exiting');
        resolve(1);
      }, CLOSE_DEADLINE_MS);
      deadline.unref();
      app.close().then(() => resolve(0), (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        resolve(1);
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  try {
    const address = await app.start();
    log.info({ address }, 'porchlight listening');
    // Never the token itself (no secret in any log line): where to find it.
    const link = consoleUrl(address);
    log.info({ console: link }, `console: ${link} (sign in with the admin token, ${tokenWhere})`);
  } catch (err) {
    log.fatal({ err }, 'could not start');
    await app.close().catch(() => {});
    return 1;
  }
  return stopped;
}

/** The console's address; a wildcard listener is shown as localhost (other devices use this machine's address). */
function consoleUrl(address: string): string {
  const url = new URL(address);
  if (url.hostname === '0.0.0.0' || url.hostname === '[::]') url.hostname = 'localhost';
  url.pathname = '/';
  return url.toString();
}

function reportStartupError(err: unknown): number {
  if (err instanceof ConfigError) {
    process.stderr.write(`porchlight: ${err.message}\n`);
    return 1;
  }
  process.stderr.write(`porchlight: ${(err as Error).message ?? String(err)}\n`);
  return 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`porchlight: unexpected failure: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
