import { App } from './app/app.ts';
import { commandUsage, parseCommand, USAGE } from './cli.ts';
import { resolveConfigPath } from './config/config-file.ts';
import { ConfigError, loadConfigFile } from './config/load.ts';
import { secretsFile, withSecrets } from './config/secrets.ts';
import { discoverySessionCli } from './cloud/discovery-session-cli.ts';
import { createLogger, type Logger } from './log.ts';
import { installSrtpKeyCache } from './webrtc/srtp-key-cache.ts';

const CLOSE_DEADLINE_MS = 10_000;

async function main(argv: string[]): Promise<number> {
  const io = { env: process.env, stdout: (text: string) => process.stdout.write(text), stderr: (text: string) => process.stderr.write(text) };
  const parsed = parseCommand(argv);
  if ('error' in parsed) {
    io.stderr(`porchlight: ${parsed.error}\n${USAGE}\n`);
    return 2;
  }
  if ('help' in parsed) {
    io.stdout(`${parsed.command ? commandUsage(parsed.command) : USAGE}\n`);
    return 0;
  }
  if (parsed.rest) {
    // Older commands with their own options and --help.
    switch (parsed.command) {
      case 'relay setup': {
        const { relaySetupCli } = await import('./relay-setup/relay-setup-cli.ts');
        return relaySetupCli(parsed.rest, io);
      }
      case 'discovery-session':
        return discoverySessionCli(parsed.rest, io);
      case 'simulate': {
        const { simulateCli } = await import('../skill/cli/simulate.ts');
        return simulateCli(parsed.rest, io);
      }
    }
  }
  const values = parsed.values ?? {};
  const configPath = resolveConfigPath(values.config as string | undefined);
  switch (parsed.command) {
    case 'serve':
      return serve(configPath);
    case 'check-config':
      return checkConfig(configPath);
    case 'skill setup':
    case 'skill status':
    case 'skill remove': {
      const { skillCli } = await import('./skill-setup/skill-cli.ts');
      return skillCli(parsed.command.split(' ')[1] as 'setup' | 'status' | 'remove', values, { ...io, stdin: process.stdin });
    }
    case 'cameras discover':
    case 'cameras inspect': {
      const { camerasCli } = await import('./onboarding/cameras-cli.ts');
      return camerasCli(parsed.command === 'cameras discover' ? 'discover' : 'inspect', values, io);
    }
    case 'cameras add': {
      const { camerasAdd } = await import('./onboarding/cameras-add.ts');
      return camerasAdd(values, io);
    }
  }
  io.stderr(`porchlight: unknown command "${parsed.command}"\n${USAGE}\n`);
  return 2;
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
    // Process-wide, so here where it is visible: werift's per-packet SRTP ciphers get cached key
    // objects instead of Node converting the raw key on every packet (~45 % of the CPU at 50 viewers).
    installSrtpKeyCache();
    app = new App(config, log);
  } catch (err) {
    return reportStartupError(err);
  }
  // Last resort, not a fix: a dependency's callbacks are contained where they run (patches/), but
  // an exception that still escapes leaves the process in an unknown state. It is logged with its
  // stack as a fatal line (not lost on stderr), and the process exits 1 so Docker's restart
  // policy starts a clean one: no silent death, no limping on.
  process.once('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception: exiting so the supervisor restarts porchlight');
    process.exit(1);
  });
  process.once('unhandledRejection', (reason) => {
    log.fatal({ err: reason }, 'unhandled promise rejection: exiting so the supervisor restarts porchlight');
    process.exit(1);
  });
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
    // Cameras added, edited or removed in the file apply without a restart: on SIGHUP (and when
    // the file changes, which the app watches). reloadConfig() never rejects.
    const onHangUp = () => void app.reloadConfig('sighup');
    process.on('SIGHUP', onHangUp);
    void stopped.then(() => process.off('SIGHUP', onHangUp));
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
