import { pino, type Logger, type DestinationStream, type LoggerOptions } from 'pino';

export type { Logger };

/** Replaces the password (and user) in any URL with credentials: `rtsp://admin:***@host/…`. */
export function redactUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)([^/@\s:]*):([^/@\s]*)@/gi, '$1$2:***@');
}

/** Bearer tokens and `key=value` secrets inside free text (error messages, ffmpeg stderr). */
export function redactText(text: string): string {
  return redactUrl(text)
    .replace(/(bearer\s+)[A-Za-z0-9._~+/=|-]+/gi, '$1***')
    .replace(/((?:token|secret|password|credential|code)["']?\s*[:=]\s*["']?)[^"'\s,&}]+/gi, '$1***');
}

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

export interface LogOptions {
  level?: string;
  destination?: DestinationStream;
}

/**
 * The root logger. Strings are passed through redactUrl/redactText so a camera URL or a
 * bearer token that slips into a message or error is still censored.
 */
export function createLogger(options: LogOptions = {}): Logger {
  const config: LoggerOptions = {
    level: options.level ?? process.env.PORCHLIGHT_LOG_LEVEL ?? 'info',
    base: { name: 'porchlight' },
    redact: { paths: REDACT_PATHS, censor: '***' },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((a) => (typeof a === 'string' ? redactText(a) : a)) as Parameters<typeof method>);
      },
    },
    serializers: {
      err: (err: unknown) => serializeError(err),
      url: (url: unknown) => (typeof url === 'string' ? redactUrl(url) : url),
    },
  };
  return options.destination ? pino(config, options.destination) : pino(config);
}

function serializeError(err: unknown): unknown {
  const serialized = pino.stdSerializers.err(err as Error);
  if (serialized && typeof serialized === 'object') {
    if (typeof serialized.message === 'string') serialized.message = redactText(serialized.message);
    if (typeof serialized.stack === 'string') serialized.stack = redactText(serialized.stack);
  }
  return serialized;
}
