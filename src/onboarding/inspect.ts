/**
 * One ONVIF device, signed in: who it is, every stream it offers (codec, size, frame rate,
 * bitrate, RTSP URI), which of them an Echo gets and why (echo-stream.ts), its audio, whether
 * talkback can work, the event topics it offers against porchlight's rules, and whether it looks
 * like a doorbell. The chosen stream is confirmed with an RTSP DESCRIBE with the credentials (the
 * health probe, camera/rtsp-probe.ts): what ONVIF claims is not proof the stream answers.
 *
 * Built on the `onvif` package as events/onvif-source.ts is: GetSystemDateAndTime first, so the
 * WS-Security digests carry the camera's clock (cameras minutes off refuse ours); our own HTTP
 * agent, destroyed at the end (and on abort), so no socket outlives the inspection; the package's
 * patched transport caps each answer at 1 MiB and each request at `requestTimeoutMs`.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import onvif from 'onvif';
import { probeRtsp } from '../camera/rtsp-probe.ts';
import type { AuthScheme } from '../camera/rtsp-auth.ts';
import { classifyOnvifError, type OnvifFailure } from '../events/onvif-errors.ts';
import { topicSetNames } from '../events/onvif-topics.ts';
import { CodedError } from '../util/coded-error.ts';
import { printable } from '../util/printable.ts';
import { redactSecrets, withoutUserinfo } from '../util/redact.ts';
import { scopeFacts } from './discovery.ts';
import { doorbellHint, type DoorbellHint } from './doorbell-hint.ts';
import { chooseEchoStream, describeStream, videoCodec, type EchoStreamChoice, type StreamProfile } from './echo-stream.ts';
import { mapEventTopics, type TopicMapping } from './event-topics.ts';

export interface InspectOptions {
  /** The device service: http://IP[:port][/onvif/device_service] (the path is the default when left out). */
  onvifUrl: string;
  username?: string;
  password?: string;
  /** One ONVIF request, start to end (default 5000 ms). */
  requestTimeoutMs?: number;
  /** The RTSP DESCRIBE that confirms the stream (default 5000 ms). */
  describeTimeoutMs?: number;
  /** false: this bridge will not transcode. Default true. */
  canTranscode?: boolean;
  signal?: AbortSignal;
}

export interface DeviceIdentity {
  manufacturer?: string;
  model?: string;
  firmwareVersion?: string;
  serialNumber?: string;
  hardwareId?: string;
  /** From its scopes (GetScopes), when it answers. */
  name?: string;
  types: string[];
}

export interface AudioReport {
  /** The camera's audio codec (of the chosen stream, else of any profile); undefined: no audio. */
  codec?: string;
  /** An ONVIF audio output (backchannel) exists: `talkback: onvif` can work. */
  talkback: boolean;
  reason: string;
}

export interface EventsReport {
  /** The camera has an event service and listed its topics. */
  available: boolean;
  topics: string[];
  doorbell: TopicMapping;
  motion: TopicMapping;
  reason?: string;
}

export interface Inspection {
  /** The device service as given, without credentials. */
  onvifUrl: string;
  device: DeviceIdentity;
  /** Camera clock minus ours (WS-Security uses the camera's). */
  clockOffsetMs?: number;
  /** Which ONVIF media service described the streams: Media2 (Profile T) knows H.265. */
  mediaService: 'media' | 'media2';
  profiles: StreamProfile[];
  choice: EchoStreamChoice;
  /** The chosen stream answered DESCRIBE with the credentials (absent in a partial inspection). */
  confirmed?: { url: string; status: number; scheme?: AuthScheme };
  snapshotUri?: string;
  audio: AudioReport;
  events: EventsReport;
  doorbell: DoorbellHint;
}

export type InspectStep =
  | 'GetSystemDateAndTime' | 'GetDeviceInformation' | 'GetServices' | 'GetProfiles' | 'GetStreamUri' | 'choose' | 'DESCRIBE';

export type InspectFailureCode =
  /** Nothing answered at the ONVIF address (refused, unreachable, silent). */
  | 'NO_REPLY'
  /** Something answered, but not ONVIF SOAP. */
  | 'NOT_ONVIF'
  | 'CREDENTIALS'
  | 'NO_MEDIA'
  | 'NO_STREAM_URI'
  /** The stream URI ONVIF gave refuses the credentials (401/403) or asks for some. */
  | 'DESCRIBE_REFUSED'
  | 'DESCRIBE_NOT_FOUND'
  | 'DESCRIBE_FAILED'
  /** No stream an Echo can show, and this bridge does not transcode. */
  | 'UNSUPPORTED_CODEC'
  | 'ABORTED';

export class InspectError extends CodedError<InspectFailureCode> {
  /** The ONVIF operation or RTSP request that failed. */
  readonly step: InspectStep;
  /** What was learned before the failure (DESCRIBE and codec failures come after everything else). */
  readonly partial: Inspection | undefined;

  constructor(code: InspectFailureCode, step: InspectStep, message: string, partial?: Inspection) {
    super(code, message);
    this.step = step;
    this.partial = partial;
  }
}

const REQUEST_TIMEOUT_MS = 5000;
const DESCRIBE_TIMEOUT_MS = 5000;
/** An NVR lists a profile per channel and stream: the first ones are this camera's. */
const MAX_PROFILES = 16;
const MAX_TEXT = 200;

type Callback = (err: Error | null, data?: any, xml?: string) => void;

/** The package's callback API as a promise; the raw XML (redacted) rides along on errors for classification. */
function call(cam: any, method: string, ...args: unknown[]): Promise<any> {
  return new Promise((resolve, reject) => {
    const callback: Callback = (err, data, xml) => {
      if (err) reject(Object.assign(err, { xml: typeof xml === 'string' ? redactSecrets(xml.slice(0, 2000)) : undefined }));
      else resolve(data);
    };
    try {
      cam[method](...args, callback);
    } catch (err) {
      reject(err);
    }
  });
}

/** A request the package has no (safe) method for: its transport, our reading of the parsed body. */
function request(cam: any, service: string | undefined, body: string): Promise<any> {
  return new Promise((resolve, reject) => {
    try {
      cam._request({ ...(service && { service }), body: cam._envelopeHeader() + body + cam._envelopeFooter() }, (err: Error | null, data: unknown, xml?: string) => {
        if (err) reject(Object.assign(err, { xml: typeof xml === 'string' ? redactSecrets(xml.slice(0, 2000)) : undefined }));
        else resolve(data);
      });
    } catch (err) {
      reject(err);
    }
  });
}

const text = (value: unknown): string | undefined => {
  const raw = typeof value === 'string' ? value : typeof value === 'number' ? String(value) : typeof (value as { _?: unknown })?._ === 'string' ? (value as { _: string })._ : undefined;
  const cleaned = raw === undefined ? undefined : printable(raw, MAX_TEXT);
  return cleaned || undefined;
};
const positive = (value: unknown): number | undefined => {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
  return Number.isFinite(n) && n > 0 ? n : undefined;
};
const list = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/** G711 / PCMU / MP4A-LATM / mpeg4-generic / G726 / OPUS as people know them. */
export function audioCodecName(encoding: string | undefined): string | undefined {
  const name = (encoding ?? '').toLowerCase().replace(/[^a-z0-9]/g, '');
  if (!name) return undefined;
  if (name === 'g711' || name === 'pcmu') return 'G.711 µ-law (PCMU)';
  if (name === 'pcma') return 'G.711 A-law (PCMA)';
  if (name === 'aac' || name === 'mp4alatm' || name === 'mpeg4generic') return 'AAC';
  if (name === 'g726') return 'G.726';
  if (name === 'opus') return 'Opus';
  return printable(encoding!, 40);
}

/**
 * A profile as the package hands it back (Media1 as parsed; Media2 mapped by the package onto
 * Media1's names). Media1 gives the audio sample rate in kHz, Media2 in Hz.
 */
export function streamProfile(raw: any, index: number): StreamProfile {
  const video = raw?.videoEncoderConfiguration;
  const audio = raw?.audioEncoderConfiguration;
  const sampleRate = positive(audio?.sampleRate);
  const audioCodec = audioCodecName(text(audio?.encoding));
  const width = positive(video?.resolution?.width);
  const height = positive(video?.resolution?.height);
  const fps = positive(video?.rateControl?.frameRateLimit);
  const bitrateKbps = positive(video?.rateControl?.bitrateLimit);
  const bitrate = positive(audio?.bitrate);
  return {
    token: text(raw?.$?.token) ?? `profile-${index + 1}`,
    name: text(raw?.name) ?? text(raw?.$?.token) ?? `profile ${index + 1}`,
    codec: videoCodec(text(video?.encoding)),
    ...(width && { width }),
    ...(height && { height }),
    ...(fps && { fps }),
    ...(bitrateKbps && { bitrateKbps }),
    ...(audioCodec && {
      audio: {
        codec: audioCodec,
        ...(sampleRate && { sampleRateHz: sampleRate < 1000 ? sampleRate * 1000 : sampleRate }),
        ...(bitrate && { bitrateKbps: bitrate }),
      },
    }),
  };
}

/** The ONVIF address as the Cam needs it; refuses what is not http(s). */
function parseOnvifUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    throw new InspectError('NO_REPLY', 'GetSystemDateAndTime', `"${printable(value, 100)}" is not an ONVIF address: give http://IP[:port]`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InspectError('NO_REPLY', 'GetSystemDateAndTime', `the ONVIF address must be http:// or https://, not ${url.protocol}`);
  }
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/onvif/device_service';
  url.username = '';
  url.password = '';
  return url;
}

/** The stream URI with the credentials in it, for the DESCRIBE (percent-encoded: rtsp-auth's splitCredentials decodes). */
function withCredentials(uri: string, username: string | undefined, password: string | undefined): string {
  if (username === undefined) return uri;
  const url = new URL(uri);
  url.username = encodeURIComponent(username);
  url.password = encodeURIComponent(password ?? '');
  return url.toString();
}

/** Inspects one device; throws InspectError naming the step that failed. */
export async function inspectOnvifDevice(options: InspectOptions): Promise<Inspection> {
  const target = parseOnvifUrl(options.onvifUrl);
  const secure = target.protocol === 'https:';
  const agent = secure ? new HttpsAgent({ keepAlive: false, rejectUnauthorized: false }) : new HttpAgent({ keepAlive: false });
  const onAbort = () => agent.destroy();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const cam: any = new onvif.Cam({
    hostname: target.hostname.replace(/^\[|\]$/g, ''),
    port: target.port ? Number(target.port) : secure ? 443 : 80,
    path: target.pathname,
    ...(options.username !== undefined && { username: options.username }),
    ...(options.password !== undefined && { password: options.password }),
    timeout: options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
    autoconnect: false,
    // Cameras advertise service addresses on other interfaces or behind NAT: keep to the one given.
    preserveAddress: true,
    useSecure: secure,
    // Cameras serve self-signed certificates; WS-Security digests never expose the password.
    secureOpts: { rejectUnauthorized: false },
    agent,
  });
  const where = `${target.hostname}:${target.port || (secure ? 443 : 80)}`;
  const fail = (step: InspectStep, err: unknown): InspectError => {
    if (options.signal?.aborted) return new InspectError('ABORTED', step, 'inspection cancelled');
    const failure: OnvifFailure = classifyOnvifError(err);
    switch (failure.code) {
      case 'CREDENTIALS': return new InspectError('CREDENTIALS', step, `ONVIF refused the credentials (${step}): check the user and the password (ONVIF accounts may differ from the web page's)`);
      case 'UNREACHABLE':
      case 'TIMEOUT': return new InspectError('NO_REPLY', step, `no ONVIF reply from ${where} (${step}): ${failure.reason}`);
      case 'BAD_RESPONSE': return new InspectError('NOT_ONVIF', step, `${where} answered ${step}, but not as an ONVIF device service (is the path right?)`);
      default: return new InspectError(step === 'GetSystemDateAndTime' || step === 'GetDeviceInformation' ? 'NOT_ONVIF' : 'NO_MEDIA', step, `${step} failed: ${failure.reason}`);
    }
  };
  try {
    // 1. The camera's clock, before anything signed.
    let clockOffsetMs: number | undefined;
    try {
      const cameraTime = await call(cam, 'getSystemDateAndTime');
      if (cameraTime instanceof Date && !Number.isNaN(cameraTime.getTime())) clockOffsetMs = cameraTime.getTime() - Date.now();
    } catch (err) {
      throw fail('GetSystemDateAndTime', err);
    }

    // 2. The first signed request: where wrong credentials show.
    let info: any;
    try {
      info = await call(cam, 'getDeviceInformation');
    } catch (err) {
      throw fail('GetDeviceInformation', err);
    }

    // 3. Where the media and event services are: GetServices (Media2 shows there), else GetCapabilities.
    try {
      await call(cam, 'getServices', true);
    } catch {
      try {
        await call(cam, 'getCapabilities');
      } catch (err) {
        throw fail('GetServices', err);
      }
    }
    if (!cam.uri?.media && !cam.uri?.media2) throw new InspectError('NO_MEDIA', 'GetServices', 'the device has no ONVIF media service: it streams nothing ONVIF can describe (try the RTSP path table: --rtsp-host)');

    const scopes = await call(cam, 'getScopes').then((s: unknown) => list(s as unknown[]).map((scope: any) => text(scope?.scopeItem)).filter((s): s is string => s !== undefined), () => [] as string[]);
    const facts = scopeFacts(scopes);
    const device: DeviceIdentity = {
      ...(text(info?.manufacturer) && { manufacturer: text(info.manufacturer) }),
      ...(text(info?.model) && { model: text(info.model) }),
      ...(text(info?.firmwareVersion) && { firmwareVersion: text(info.firmwareVersion) }),
      ...(text(info?.serialNumber) && { serialNumber: text(info.serialNumber) }),
      ...(text(info?.hardwareId) && { hardwareId: text(info.hardwareId) }),
      ...(facts.name && { name: facts.name }),
      types: facts.types,
    };

    // 4. The profiles: Media2 when offered (it can say H.265), Media1 when Media2 fails (some do).
    let rawProfiles: any[];
    try {
      rawProfiles = list(await call(cam, 'getProfiles'));
    } catch (err) {
      if (!cam.media2Support || !cam.uri?.media) throw fail('GetProfiles', err);
      cam.media2Support = false;
      try {
        rawProfiles = list(await call(cam, 'getProfiles'));
      } catch (again) {
        throw fail('GetProfiles', again);
      }
    }
    const mediaService = cam.media2Support ? 'media2' : 'media';
    const profiles = rawProfiles.slice(0, MAX_PROFILES).map(streamProfile);
    if (profiles.length === 0) throw new InspectError('NO_MEDIA', 'GetProfiles', 'the camera lists no media profiles');

    // 5. Each profile's RTSP URI (RTP unicast over RTSP); one that fails leaves that profile without.
    let lastUriError: unknown;
    for (const profile of profiles) {
      try {
        const answer = await call(cam, 'getStreamUri', { protocol: 'RTSP', stream: 'RTP-Unicast', profileToken: profile.token });
        const uri = text(answer?.uri);
        if (uri && /^rtsps?:\/\//i.test(uri)) profile.uri = withoutUserinfo(uri);
      } catch (err) {
        if (classifyOnvifError(err).code === 'CREDENTIALS') throw fail('GetStreamUri', err);
        lastUriError = err;
      }
    }

    // 6. What the optional answers say; none of them stops the inspection.
    const events = await eventsReport(cam);
    const audioOutputs = await countAudioOutputs(cam, rawProfiles);

    const choice = chooseEchoStream(profiles, options.canTranscode === undefined ? {} : { canTranscode: options.canTranscode });
    const chosen = choice.mode === 'none' ? undefined : choice.profile;
    const snapshotUri = chosen ? await call(cam, 'getSnapshotUri', { profileToken: chosen.token }).then((a: any) => text(a?.uri), () => undefined) : undefined;
    const audioCodec = chosen?.audio?.codec ?? profiles.find((p) => p.audio)?.audio?.codec;
    const inspection: Inspection = {
      onvifUrl: target.toString(),
      device,
      ...(clockOffsetMs !== undefined && { clockOffsetMs: Math.round(clockOffsetMs) }),
      mediaService,
      profiles,
      choice,
      ...(snapshotUri && { snapshotUri: withoutUserinfo(snapshotUri) }),
      audio: {
        ...(audioCodec && { codec: audioCodec }),
        talkback: audioOutputs > 0,
        reason: audioOutputs > 0
          ? `it has ${audioOutputs === 1 ? 'an audio output' : `${audioOutputs} audio outputs`} (ONVIF backchannel): talkback: onvif can work`
          : 'it lists no audio output (ONVIF backchannel): no talkback',
      },
      events,
      doorbell: doorbellHint({ ...device, ...(facts.hardware && { hardware: facts.hardware }), topics: events.topics }),
    };

    if (choice.mode === 'none') {
      if (profiles.every((p) => p.uri === undefined)) {
        throw new InspectError('NO_STREAM_URI', 'GetStreamUri', `the camera gave no RTSP URI for any profile${lastUriError ? `: ${classifyOnvifError(lastUriError).reason}` : ''}`, inspection);
      }
      throw new InspectError('UNSUPPORTED_CODEC', 'choose', `${choice.reason}`, inspection);
    }

    // 7. Proof: the chosen URI answers DESCRIBE with these credentials.
    const probe = await probeRtsp(withCredentials(choice.profile.uri!, options.username, options.password), {
      timeoutMs: options.describeTimeoutMs ?? DESCRIBE_TIMEOUT_MS,
      ...(options.signal && { signal: options.signal }),
    });
    const uri = choice.profile.uri!;
    if (!probe.reachable) {
      if (options.signal?.aborted) throw new InspectError('ABORTED', 'DESCRIBE', 'inspection cancelled', inspection);
      if (probe.code === 'AUTH_REJECTED' || probe.code === 'AUTH_REQUIRED' || probe.code === 'AUTH_DOWNGRADE') {
        throw new InspectError('DESCRIBE_REFUSED', 'DESCRIBE', `ONVIF gave the stream URI ${uri}, but its DESCRIBE refuses these credentials (${probe.status ?? 401}): ${probe.reason} (RTSP may use another account than ONVIF)`, inspection);
      }
      if (probe.code === 'NO_SUCH_STREAM') {
        throw new InspectError('DESCRIBE_NOT_FOUND', 'DESCRIBE', `ONVIF gave the stream URI ${uri}, but DESCRIBE answers 404: the camera has no stream there`, inspection);
      }
      throw new InspectError('DESCRIBE_FAILED', 'DESCRIBE', `ONVIF gave the stream URI ${uri}, but DESCRIBE failed: ${probe.reason}`, inspection);
    }
    if (probe.status !== 200) {
      throw new InspectError('DESCRIBE_FAILED', 'DESCRIBE', `ONVIF gave the stream URI ${uri}, but DESCRIBE answered ${probe.status}`, inspection);
    }
    return { ...inspection, confirmed: { url: uri, status: probe.status, ...(probe.scheme && { scheme: probe.scheme }) } };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    agent.destroy();
  }
}

async function eventsReport(cam: any): Promise<EventsReport> {
  if (!cam.uri?.events) return { available: false, topics: [], ...mapEventTopics([]), reason: 'the device has no ONVIF event service' };
  try {
    const properties = await call(cam, 'getEventProperties');
    const topics = topicSetNames(properties?.topicSet).map((t) => printable(t, MAX_TEXT));
    return { available: true, topics, ...mapEventTopics(topics) };
  } catch (err) {
    return { available: false, topics: [], ...mapEventTopics([]), reason: `GetEventProperties failed: ${classifyOnvifError(err).reason}` };
  }
}

/**
 * Audio outputs (ONVIF Media GetAudioOutputs), or a profile carrying an audio output
 * configuration (how Media2 devices show a backchannel). Read from the parsed body here: the
 * package's getAudioOutputs throws on a device that has none.
 */
async function countAudioOutputs(cam: any, rawProfiles: any[]): Promise<number> {
  const inProfiles = rawProfiles.some((p) => p?.audioOutputConfiguration || p?.extension?.audioOutputConfiguration) ? 1 : 0;
  if (!cam.uri?.media) return inProfiles;
  try {
    const body = await request(cam, 'media', '<GetAudioOutputs xmlns="http://www.onvif.org/ver10/media/wsdl"/>');
    const outputs = body?.[0]?.getAudioOutputsResponse?.[0]?.audioOutputs;
    return Math.max(Array.isArray(outputs) ? outputs.length : 0, inProfiles);
  } catch {
    return inProfiles;
  }
}

/** "main: H.264 1280×720 25 fps 4096 kbit/s", for people. */
export function describeProfile(profile: StreamProfile): string {
  return [
    describeStream(profile),
    profile.fps ? `${profile.fps} fps` : undefined,
    profile.bitrateKbps ? `${profile.bitrateKbps} kbit/s` : undefined,
    profile.audio ? `audio ${profile.audio.codec}${profile.audio.sampleRateHz ? ` ${profile.audio.sampleRateHz / 1000} kHz` : ''}` : undefined,
  ].filter(Boolean).join(', ');
}
