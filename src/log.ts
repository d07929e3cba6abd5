import { pino, type Logger, type DestinationStream, type LoggerOptions } from 'pino';
import pinoPretty from 'pino-pretty';
import { redactSecrets } from './util/redact.ts';

export type { Logger };

/** Field paths pino censors wherever they appear in a logged object. */
export const REDACT_PATHS = [
  'password', '*.password',
  'secret', '*.secret', 'clientSecret', '*.clientSecret',
  'proxySecret', '*.proxySecret', 'adminToken', '*.adminToken',
  'token', '*.token', 'accessToken', '*.accessToken', 'refreshToken', '*.refreshToken',
  'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization',
  'req.headers["x-porchlight-signature"]', '*.scope.token', 'directive.endpoint.scope.token',
  'directive.payload.grant.code', 'directive.payload.grantee.token',
  // TURN credentials (webrtc.iceServers), wherever an ICE server list is logged.
  'credential', '*.credential', 'iceServers[*].credential', '*.iceServers[*].credential',
];

/** `json`: one JSON object a line (pipes, Docker, log collectors); `pretty`: readable lines for a terminal. */
export type LogFormat = 'json' | 'pretty';

export interface LogOptions {
  level?: string;
  /** Where lines go; stdout when absent. */
  destination?: DestinationStream;
  /** Default: JSON into `destination`; for stdout, PORCHLIGHT_LOG_FORMAT, else pretty on a TTY and JSON otherwise. */
  format?: LogFormat;
}

const LEVELS = [...Object.keys(pino.levels.values), 'silent'];

/** The stdout format: PORCHLIGHT_LOG_FORMAT when set, else pretty only for a person at a terminal. */
export function logFormat(env: NodeJS.ProcessEnv, isTTY: boolean | undefined): LogFormat {
  const wanted = env.PORCHLIGHT_LOG_FORMAT;
  if (wanted === 'json' || wanted === 'pretty') return wanted;
  if (wanted) throw new Error(`PORCHLIGHT_LOG_FORMAT must be json or pretty, not "${wanted}"`);
  return isTTY ? 'pretty' : 'json';
}

/**
 * The root logger. Besides the field paths above, every line it writes passes through
 * redactSecrets on its way out, so a camera URL or a token in any field (nested ones, child
 * bindings, an error's message, stack, cause or own fields) is censored, in both formats.
 */
export function createLogger(options: LogOptions = {}): Logger {
  const level = options.level ?? (process.env.PORCHLIGHT_LOG_LEVEL || 'info');
  // Said plainly at start rather than as pino's bare "unknown level".
  if (!LEVELS.includes(level)) throw new Error(`${options.level ? 'log level' : 'PORCHLIGHT_LOG_LEVEL'} must be one of ${LEVELS.join(', ')}, not "${level}"`);
  const config: LoggerOptions = {
    level,
    base: { name: 'porchlight' },
    redact: { paths: REDACT_PATHS, censor: '***' },
    // "level":"warn" rather than 40: readable with grep and jq, and the same word the pretty format shows.
    formatters: { level: (label) => ({ level: label }) },
  };
  const format = options.format ?? (options.destination ? 'json' : logFormat(process.env, process.stdout.isTTY));
  // Pretty lines are made from the JSON line once redacted, so both formats censor alike.
  const destination = format === 'pretty' ? prettyStream(options.destination) : options.destination ?? pino.destination(1);
  return pino(config, redacting(destination));
}

/** A destination that redacts each JSON line before passing it on. */
function redacting(inner: DestinationStream): DestinationStream {
  const flushable = inner as DestinationStream & { flush?: (cb?: (err?: Error) => void) => void };
  return {
    write: (line: string) => inner.write(redactSecrets(line)),
    ...(flushable.flush && { flush: (cb?: (err?: Error) => void) => flushable.flush!(cb) }),
  } as DestinationStream;
}

/** Fields the pretty format shows before the message rather than in the trailing JSON. */
const CONTEXT_KEYS = ['component', 'cameraId', 'sessionId'];
// pino-pretty strips these from plain messages but not from a messageFormat function's result:
// a camera's or viewer's text must not drive the terminal.
const UNSAFE_CONTROL_CHARS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/**
 * `[12:03:04.567] WARN: [camera camera=front] camera stream failed {"code":"timeout",…}`.
 * In-process (not a worker transport) and synchronous, so nothing is lost when main.ts calls
 * process.exit and tests see each line as soon as it is logged.
 */
function prettyStream(destination: DestinationStream | undefined): DestinationStream {
  return pinoPretty({
    ...(destination && { destination }),
    sync: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: ['pid', 'hostname', 'name', ...CONTEXT_KEYS].join(','),
    singleLine: true,
    messageFormat: (log, messageKey) => {
      const [component, cameraId, sessionId] = CONTEXT_KEYS.map((key) => log[key]);
      const context = [component, cameraId !== undefined && `camera=${cameraId}`, sessionId !== undefined && `session=${sessionId}`]
        .filter((part) => part !== undefined && part !== false && part !== '').join(' ');
      const message = log[messageKey] === undefined ? '' : String(log[messageKey]);
      return (context ? `[${context}] ${message}` : message).replace(UNSAFE_CONTROL_CHARS, '');
    },
  });
}
