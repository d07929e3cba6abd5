import { Type, type Static, type TSchema } from '@sinclair/typebox';

/**
 * The configuration file's schema (docs/architecture.md "Configuration"). `errorMessage` is our own keyword:
 * the loader shows it instead of TypeBox's generic text so every error reads as a reason.
 */

const Str = (options: Record<string, unknown> = {}) => Type.String({ minLength: 1, errorMessage: 'must be a non-empty string', ...options });
const Secret = () => Str({ minLength: 16, errorMessage: 'must be a string of at least 16 characters' });
const Int = (minimum: number, maximum: number, extra: Record<string, unknown> = {}) =>
  Type.Integer({ minimum, maximum, errorMessage: `must be a whole number from ${minimum} to ${maximum}`, ...extra });
const Num = (minimum: number, maximum: number, extra: Record<string, unknown> = {}) =>
  Type.Number({ minimum, maximum, errorMessage: `must be a number from ${minimum} to ${maximum}`, ...extra });
const OneOf = <T extends string>(values: readonly T[], defaultValue?: T) =>
  Type.Union(values.map((v) => Type.Literal(v)), {
    errorMessage: `must be one of ${values.join(', ')}`,
    ...(defaultValue === undefined ? {} : { default: defaultValue }),
  });
const Strict = <T extends Parameters<typeof Type.Object>[0]>(properties: T, options: Record<string, unknown> = {}) =>
  Type.Object(properties, { additionalProperties: false, ...options });

export const CAMERA_ID_PATTERN = '^[A-Za-z0-9_-]{1,256}$';
export const CAMERA_URL_PATTERN = '^(rtsps?://[^\\s]+|file:[^\\s]+)$';

/** ONVIF topics are written like `tns1:RuleEngine/CellMotionDetector/Motion`. */
const OnvifTopic = () => Str({ maxLength: 512, errorMessage: 'must be an ONVIF topic like tns1:RuleEngine/CellMotionDetector/Motion' });
const MqttTopic = () => Str({ maxLength: 512, pattern: '^[^#+]+$', errorMessage: 'must be an MQTT topic without wildcards (+, #)' });

const OnvifSchema = Type.Union([
  Type.Boolean(),
  Strict({
    /** Default: http://<the RTSP URL's host>/onvif/device_service. */
    url: Type.Optional(Str({ pattern: '^https?://', errorMessage: 'must be an http:// or https:// URL of the device service' })),
    /** Default: the RTSP URL's credentials. */
    username: Type.Optional(Str()),
    password: Type.Optional(Str()),
    doorbellTopic: Type.Optional(OnvifTopic()),
    motionTopic: Type.Optional(OnvifTopic()),
  }),
], { errorMessage: 'must be true, false or { url?, username?, password?, doorbellTopic?, motionTopic? }' });

export const CameraSchema = Strict({
  id: Str({ pattern: CAMERA_ID_PATTERN, errorMessage: 'must be 1 to 256 characters of A-Z, a-z, 0-9, _ or -' }),
  name: Str({ maxLength: 128, errorMessage: 'must be a name of 1 to 128 characters' }),
  kind: OneOf(['camera', 'doorbell'] as const, 'camera'),
  url: Str({ pattern: CAMERA_URL_PATTERN, errorMessage: 'must be rtsp://, rtsps:// or file:' }),
  talkback: OneOf(['none', 'onvif'] as const, 'none'),
  transcode: OneOf(['auto', 'always', 'never'] as const, 'auto'),
  preload: Type.Boolean({ default: false, errorMessage: 'must be true or false' }),
  lingerSec: Type.Optional(Num(0, 3600)),
  /** Shown in the Alexa app; optional, for additionalAttributes. */
  manufacturer: Type.Optional(Str({ maxLength: 128, errorMessage: 'must be 1 to 128 characters' })),
  model: Type.Optional(Str({ maxLength: 128, errorMessage: 'must be 1 to 128 characters' })),
  /** Presses and motion from the camera's own ONVIF event service. */
  onvif: Type.Optional(OnvifSchema),
  /** Topics on the `mqtt` broker; default `<topicPrefix>/<id>/doorbell` and `…/motion`. */
  mqtt: Type.Optional(Strict({ doorbellTopic: Type.Optional(MqttTopic()), motionTopic: Type.Optional(MqttTopic()) })),
  /** Advertise Alexa.MotionSensor; default: when the camera has a motion source (onvif, or mqtt configured). */
  motion: Type.Optional(Type.Boolean({ errorMessage: 'must be true or false' })),
});

const IceServerSchema = Strict({
  urls: Type.Union([Str({ pattern: '^(stun|stuns|turn|turns):' }), Type.Array(Str({ pattern: '^(stun|stuns|turn|turns):' }), { minItems: 1 })], {
    errorMessage: 'must be a stun:/turn: URL or a list of them',
  }),
  username: Type.Optional(Str()),
  credential: Type.Optional(Str()),
});

export const ConfigSchema = Strict({
  server: Strict({
    host: Str({ default: '0.0.0.0' }),
    port: Int(0, 65535, { default: 8080 }),
    proxySecret: Type.Optional(Secret()),
    adminToken: Type.Optional(Secret()),
    tls: Type.Optional(Strict({ cert: Str(), key: Str() })),
    /** A second listener for the internet: POST /alexa and /healthz only (forward this one on the router). */
    publicPort: Type.Optional(Int(1, 65535)),
    publicHost: Str({ default: '0.0.0.0' }),
    /** Host names the LAN listener answers to besides IP literals and localhost (DNS rebinding). */
    hostnames: Type.Optional(Type.Array(Str({ maxLength: 253, pattern: '^[A-Za-z0-9.-]+$', errorMessage: 'must be a host name like porchlight.lan' }), { errorMessage: 'must be a list of host names' })),
    /** Reverse proxies in front of the bridge: their X-Forwarded-For is believed, their connections not capped per address. */
    trustedProxies: Type.Optional(Type.Array(Str(), { errorMessage: 'must be a list of IP addresses' })),
  }, { default: {} }),
  dataDir: Str({ default: './data' }),
  healthIntervalSec: Num(5, 86400, { default: 30 }),
  lingerSec: Num(0, 3600, { default: 10 }),
  doorbellDebounceSec: Num(0, 3600, { default: 5 }),
  alexa: Strict({
    clientId: Type.Optional(Str()),
    clientSecret: Type.Optional(Str()),
    region: OneOf(['NA', 'EU', 'FE'] as const, 'NA'),
    lwaTokenUrl: Type.Optional(Str({ pattern: '^https?://', errorMessage: 'must be an http(s):// URL' })),
    eventGatewayUrl: Type.Optional(Str({ pattern: '^https?://', errorMessage: 'must be an http(s):// URL' })),
  }, { default: {} }),
  webrtc: Strict({
    iceServers: Type.Array(IceServerSchema, { default: [], errorMessage: 'must be a list of { urls, username?, credential? }' }),
    udpPorts: Str({ default: '40000-40100', pattern: '^\\d{1,5}-\\d{1,5}$', errorMessage: 'must be a port range like 40000-40100' }),
    answerTimeoutMs: Int(500, 30000, { default: 5000 }),
    /** Advertise exactly these IPv4 addresses (e.g. the host's LAN address under Docker); default: every interface but docker bridges. */
    hostAddresses: Type.Optional(Type.Array(Str({ pattern: '^\\d{1,3}(\\.\\d{1,3}){3}$', errorMessage: 'must be an IPv4 address' }), { minItems: 1, errorMessage: 'must be a list of IPv4 addresses' })),
    maxViewersPerCamera: Int(1, 100, { default: 10 }),
    connectTimeoutSec: Num(5, 300, { default: 30 }),
    maxSessionSec: Num(30, 86400, { default: 600 }),
  }, { default: {} }),
  /** An MQTT broker to hear presses and motion from (Home Assistant, Frigate, Node-RED, Zigbee2MQTT). */
  mqtt: Type.Optional(Strict({
    url: Str({ pattern: '^(mqtts?|wss?)://', errorMessage: 'must be an mqtt://, mqtts://, ws:// or wss:// URL' }),
    username: Type.Optional(Str()),
    password: Type.Optional(Str()),
    topicPrefix: Str({ default: 'porchlight', pattern: '^[^#+]+$', errorMessage: 'must be an MQTT topic prefix without wildcards (+, #)' }),
  })),
  /** Alexa without an inbound port: directives through an MQTT 5 broker, e.g. the user's AWS IoT Core (docs/architecture.md "Relay"). */
  relay: Type.Optional(Strict({
    url: Str({ pattern: '^mqtts://', errorMessage: 'must be an mqtts:// URL (the relay runs over TLS only)' }),
    bridgeId: Str({ default: 'home', pattern: '^[A-Za-z0-9_-]{1,64}$', errorMessage: 'must be 1–64 letters, digits, _ or -' }),
    /** Client certificate and key (PEM files), relative to the config file. */
    cert: Str(),
    key: Str(),
    /** An extra CA for the broker (Node's roots already trust AWS IoT Core). */
    ca: Type.Optional(Str()),
  })),
  /** Motion from a source that never says "off" reverts to NOT_DETECTED after this. */
  motionHoldSec: Num(1, 3600, { default: 30 }),
  cameras: Type.Array(CameraSchema, { minItems: 1, errorMessage: 'must list at least one camera' }),
});

/** The file as written (after defaults); relative paths are still relative. */
export type ConfigFile = Static<typeof ConfigSchema>;
export type CameraConfig = Static<typeof CameraSchema>;
export type CameraKind = CameraConfig['kind'];
export type MqttConfig = NonNullable<ConfigFile['mqtt']>;

/** A loaded, checked configuration: paths absolute, secrets present. */
export interface Config extends Omit<ConfigFile, 'server'> {
  server: ConfigFile['server'] & { proxySecret: string; adminToken: string };
  /** Where the configuration came from: a file path, or `embedded demo`. */
  source: string;
  /** Which secrets were generated on this start (names only), to announce them. */
  generatedSecrets: string[];
}

export function customMessage(schema: TSchema): string | undefined {
  const message = (schema as { errorMessage?: unknown }).errorMessage;
  return typeof message === 'string' ? message : undefined;
}
