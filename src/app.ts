import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { AlexaDispatcher } from './alexa/dispatcher.ts';
import { acceptGrantHandler, NAMESPACE as AUTHORIZATION } from './alexa/authorization.ts';
import { discoverHandler, discoveryEndpoint } from './alexa/discovery.ts';
import type { CameraDirectory, CameraEndpoint } from './alexa/ports.ts';
import { reportStateHandler } from './alexa/report-state.ts';
import { CameraStreams } from './camera/camera-streams.ts';
import { HealthMonitor } from './camera/health.ts';
import { TalkbackManager } from './camera/talkback-manager.ts';
import { AlexaCloud, type EventDeliveryTiming } from './cloud/alexa-cloud.ts';
import type { DirectiveTransport } from './cloud/alexa-activity.ts';
import { bridgeChecklist } from './cloud/alexa-checklist.ts';
import { ffmpegVersionInfo, resolveFfmpegPath, type FfmpegVersion } from './camera/ffmpeg-path.ts';
import { PACKAGE_ROOT, portRange } from './config/load.ts';
import type { CameraConfig, Config } from './config/schema.ts';
import { CameraEvents, type EventSourceName } from './events/camera-events.ts';
import { EventSources, hasMotion } from './events/event-sources.ts';
import { cameraEventsView, mqttReadiness, onvifReadiness } from './http/event-status.ts';
import { ConsoleBackend } from './http/console-backend.ts';
import type { ReadinessReport } from './http/health-routes.ts';
import type { ConnectionCounts, ConnectionLimits } from './http/connection-guard.ts';
import { buildHttpServer, buildPublicServer } from './http/server.ts';
import { RelayClient } from './relay/relay-client.ts';
import { loadRelayCredentials } from './config/relay-credentials.ts';
import { ReplayGuard } from './signing/signature.ts';
import { Metrics } from './metrics.ts';
import { initiateSessionHandler, NAMESPACE as RTC, sessionConnectedHandler, sessionDisconnectedHandler } from './alexa/rtc-session.ts';
import { iceServersForWerift } from './webrtc/ice-servers.ts';
import { bridgeAddresses, gatherAddressCount } from './webrtc/interfaces.ts';
import { UdpPortPool } from './webrtc/port-pool.ts';
import { installSrtpKeyCache } from './webrtc/srtp-key-cache.ts';
import { checkWeriftPatch, unpatchedWeriftMessage, type WeriftPatchCheck } from './webrtc/werift-guard.ts';
import { SessionManager } from './webrtc/session-manager.ts';
import type { Backoff } from './util/retry.ts';

export const VERSION: string = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

interface FfmpegStatus {
  path?: string;
  source?: string;
  version?: string;
  /** The release its flags follow (4.x differ); absent = not recognised, treated as current. */
  release?: FfmpegVersion;
  error?: string;
}

/** The configured cameras as Alexa endpoints. */
class ConfiguredCameras implements CameraDirectory {
  readonly #cameras: Map<string, CameraConfig>;
  readonly #fullDuplex: (cameraId: string) => boolean;
  readonly #motion: (cameraId: string) => boolean;
  constructor(cameras: CameraConfig[], fullDuplex: (cameraId: string) => boolean, motion: (cameraId: string) => boolean) {
    this.#cameras = new Map(cameras.map((camera) => [camera.id, camera]));
    this.#fullDuplex = fullDuplex;
    this.#motion = motion;
  }
  has(id: string): boolean {
    return this.#cameras.has(id);
  }
  list(): CameraEndpoint[] {
    return [...this.#cameras.values()].map((camera) => ({
      id: camera.id,
      name: camera.name,
      kind: camera.kind,
      fullDuplexAudio: this.#fullDuplex(camera.id),
      motionSensor: this.#motion(camera.id),
      ...(camera.manufacturer && { manufacturer: camera.manufacturer }),
      ...(camera.model && { model: camera.model }),
    }));
  }
}

/** What is not configuration: timings tests shorten so a gateway outage fits in seconds. */
export interface AppOptions {
  eventDelivery?: EventDeliveryTiming;
  /** A camera delivering no video this long ends its sessions (default 30 s); tests shorten it. */
  cameraDownMs?: number;
  /** What a STUN query or the TURN allocation may add to an answer (default: 40 % of answerTimeoutMs, at most 2 s). */
  gatherTimeoutMs?: number;
  /** Reconnect backoff of event sources (ONVIF, MQTT); default 1 s doubling to 60 s. */
  eventSourceRetry?: Backoff;
  /** HTTP timeouts and connection caps (default: http/connection-guard.ts); tests shorten them. */
  httpLimits?: Partial<ConnectionLimits>;
  /** Used instead of FFMPEG_PATH: tests run another ffmpeg without touching process.env. */
  ffmpegPath?: string;
  /** Reconnect backoff of the relay (default 1 s doubling to 60 s); tests shorten it. */
  relayRetry?: Backoff;
}

/** A press keeps the doorbell's stream warm this long: the Echo shows it within seconds. */
const PRESS_WARM_MS = 30_000;

/**
 * The composition root: builds every service from the configuration, wires them together,
 * and closes them in reverse order. Nothing here is global; tests build as many as they like.
 */
export class App {
  readonly config: Config;
  readonly log: Logger;
  /** The LAN listener: everything. */
  readonly http: FastifyInstance;
  /** `server.publicPort`: POST /alexa and /healthz only, what a router may forward. */
  readonly publicHttp: FastifyInstance | undefined;
  readonly health: HealthMonitor;
  readonly dispatcher: AlexaDispatcher;
  readonly streams: CameraStreams;
  readonly sessions: SessionManager;
  readonly cloud: AlexaCloud;
  readonly talkback: TalkbackManager;
  readonly metrics: Metrics;
  readonly events: CameraEvents;
  readonly eventSources: EventSources;
  /** Directives through the MQTT broker, beside POST /alexa (config `relay`). */
  readonly relay: RelayClient | undefined;
  #ffmpeg: FfmpegStatus = {};
  readonly #ffmpegPathOverride: string | undefined;
  #listening = false;
  /** Read once: the werift bundle on disk does not change under a running bridge. */
  readonly #weriftPatch: WeriftPatchCheck = checkWeriftPatch();
  /** Connections both HTTP listeners closed, for /metrics. */
  readonly #httpConnections: ConnectionCounts = { idleClosed: 0, refused: 0 };
  #closing: Promise<void> | undefined;

  constructor(config: Config, log: Logger, options: AppOptions = {}) {
    // Process-wide and idempotent: werift's per-packet SRTP ciphers get cached key objects.
    installSrtpKeyCache();
    this.config = config;
    this.log = log;
    this.#ffmpegPathOverride = options.ffmpegPath;
    this.talkback = new TalkbackManager({
      cameras: config.cameras,
      ffmpegPath: () => this.#ffmpeg.path,
      // The scheme the health probe found: talkback never answers a Digest camera with Basic.
      authScheme: (cameraId) => this.health.authScheme(cameraId),
      log: log.child({ component: 'talkback' }),
    });
    // Full duplex only where it works: `talkback: onvif` and no refusal from the camera so far.
    const motionCameras = new Set(config.cameras.filter((camera) => hasMotion(camera, config.mqtt)).map((camera) => camera.id));
    const cameras = new ConfiguredCameras(config.cameras, (id) => this.talkback.supported(id), (id) => motionCameras.has(id));
    this.health = new HealthMonitor({
      cameras: config.cameras.map(({ id, url }) => ({ id, url })),
      intervalMs: config.healthIntervalSec * 1000,
      log: log.child({ component: 'health' }),
    });
    this.cloud = new AlexaCloud({
      dataDir: config.dataDir,
      alexa: config.alexa,
      doorbellDebounceMs: config.doorbellDebounceSec * 1000,
      currentEndpoints: () => cameras.list().map((camera) => discoveryEndpoint(camera, VERSION)),
      log: log.child({ component: 'cloud' }),
      ...(options.eventDelivery && { delivery: options.eventDelivery }),
    });
    this.health.on('change', (cameraId, health) => this.cloud.reportConnectivity(cameraId, health.value, health.timeOfSample));
    this.events = new CameraEvents({
      cameras: config.cameras.map(({ id, kind }) => ({ id, kind, motion: motionCameras.has(id) })),
      motionHoldMs: config.motionHoldSec * 1000,
      log: log.child({ component: 'events' }),
    });
    this.events.on('press', (cameraId, source, at) => this.#onPress(cameraId, source, at));
    this.events.on('motion', (cameraId, reading) => {
      this.cloud.reportMotion(cameraId, reading.value, reading.timeOfSample);
      if (reading.value === 'DETECTED') this.#warm(cameraId, 'motion');
      else this.#streamIfRunning(cameraId)?.release('motion');
    });
    this.eventSources = new EventSources({
      cameras: config.cameras,
      mqtt: config.mqtt,
      events: this.events,
      log: log.child({ component: 'events' }),
      ...(options.eventSourceRetry && { retry: options.eventSourceRetry }),
    });
    this.streams = new CameraStreams({
      cameras: config.cameras,
      defaultLingerSec: config.lingerSec,
      ffmpegPath: () => this.#ffmpeg.path,
      ffmpegVersion: () => this.#ffmpeg.release,
      log: log.child({ component: 'camera' }),
      onStream: (stream) => {
        stream.on('failure', (failure) => this.health.noteStreamFailure(stream.id, failure.code, failure.message));
        stream.on('state', (state) => state === 'streaming' && this.health.noteStreamHealthy(stream.id));
      },
    });
    this.metrics = new Metrics({
      cameras: () => config.cameras.map(({ id }) => {
        const stream = this.streams.peek(id)?.status();
        return {
          id,
          connectivity: this.health.health(id)?.value ?? 'UNKNOWN',
          ffmpegStarts: stream?.starts ?? 0,
          ffmpegRestarts: stream?.restarts ?? 0,
          packets: stream?.packets ?? { video: 0, audio: 0 },
          bytes: stream?.bytes ?? { video: 0, audio: 0 },
          dropped: this.sessions.droppedFor(id),
        };
      }),
      activeSessions: () => this.sessions.size,
      events: () => this.cloud.status(),
      cameraEvents: () => this.events.counts(),
      eventSourceFailures: () => this.eventSources.failures(),
      relay: () => this.relay?.status(),
      httpConnections: () => this.#httpConnections,
    });
    this.sessions = new SessionManager({
      streams: this.streams,
      ice: {
        iceServers: config.webrtc.iceServers,
        ...(config.webrtc.hostAddresses && { hostAddresses: config.webrtc.hostAddresses }),
        excludedAddresses: bridgeAddresses(),
      },
      // One port per gather address, and one for the TURN client's socket (werift binds it in the range too).
      ports: new UdpPortPool(portRange(config.webrtc.udpPorts), gatherAddressCount(config.webrtc.hostAddresses) + (iceServersForWerift(config.webrtc.iceServers).turn ? 1 : 0)),
      answerTimeoutMs: config.webrtc.answerTimeoutMs,
      connectTimeoutMs: config.webrtc.connectTimeoutSec * 1000,
      maxSessionMs: config.webrtc.maxSessionSec * 1000,
      maxViewersPerCamera: config.webrtc.maxViewersPerCamera,
      talkback: this.talkback,
      observer: {
        answered: (ms) => this.metrics.answered(ms),
        refused: (code) => this.metrics.session(`refused_${code.toLowerCase()}`),
        closed: (reason) => this.metrics.session(reason.replace(/-/g, '_')),
        firstMedia: (ms) => this.metrics.firstMedia(ms),
      },
      unavailable: (cameraId) => this.#unavailable(cameraId),
      ...(options.cameraDownMs !== undefined && { cameraDownMs: options.cameraDownMs }),
      ...(options.gatherTimeoutMs !== undefined && { gatherTimeoutMs: options.gatherTimeoutMs }),
      log: log.child({ component: 'webrtc' }),
    });
    this.dispatcher = new AlexaDispatcher({ endpoints: cameras, log: log.child({ component: 'alexa' }) })
      .register('Alexa.Discovery', 'Discover', discoverHandler(cameras, VERSION), { endpoint: false })
      .register('Alexa', 'ReportState', reportStateHandler(this.health, this.events), { endpoint: true })
      .register(AUTHORIZATION, 'AcceptGrant', acceptGrantHandler(this.cloud), { endpoint: false })
      .register(RTC, 'InitiateSessionWithOffer', initiateSessionHandler(this.sessions), { endpoint: true })
      .register(RTC, 'SessionConnected', sessionConnectedHandler(this.sessions), { endpoint: true })
      .register(RTC, 'SessionDisconnected', sessionDisconnectedHandler(this.sessions), { endpoint: true });
    // The signed /alexa surface both listeners share, with one replay guard kept in the store.
    const alexaSurface = {
      log,
      proxySecret: config.server.proxySecret,
      dispatch: this.#fromAlexa('http'),
      replays: new ReplayGuard(undefined, this.cloud.signatureLedger()),
      ...(config.server.tls && { tls: config.server.tls }),
      ...(config.server.trustedProxies && { trustedProxies: config.server.trustedProxies }),
      ...(options.httpLimits && { limits: options.httpLimits }),
      connectionCounts: this.#httpConnections,
    };
    this.relay = config.relay && new RelayClient({
      ...config.relay,
      // Checked by the config loader: a relay section only loads with readable, matching files.
      ...loadRelayCredentials(config.relay).credentials!,
      proxySecret: config.server.proxySecret,
      dispatch: this.#fromAlexa('relay'),
      replays: alexaSurface.replays,
      log: log.child({ component: 'relay' }),
      ...(options.relayRetry && { retry: options.relayRetry }),
    });
    this.publicHttp = config.server.publicPort === undefined ? undefined : buildPublicServer(alexaSurface);
    this.http = buildHttpServer({
      ...alexaSurface,
      readiness: () => this.readiness(),
      metrics: this.metrics,
      adminToken: config.server.adminToken,
      pressDoorbell: (cameraId) => {
        const camera = config.cameras.find((c) => c.id === cameraId);
        if (!camera) return 'unknown-camera';
        if (camera.kind !== 'doorbell') return 'not-a-doorbell';
        // Checked first: an API caller learns that Alexa hears nothing, as before.
        if (!this.cloud.status().configured) return 'not-configured';
        this.events.report(cameraId, 'doorbell', true, 'http');
        return this.#lastPress.get(cameraId) ?? 'queued';
      },
      reportMotion: (cameraId, detected) => {
        const outcome = this.events.report(cameraId, 'motion', detected, 'http');
        if (outcome === 'unknown-camera' || outcome === 'no-motion-sensor') return outcome;
        return { detectionState: this.events.motion(cameraId)?.value ?? 'NOT_DETECTED', changed: outcome === 'motion-changed' };
      },
      console: this.#consoleBackend(),
      ...(config.server.hostnames && { hostnames: config.server.hostnames }),
    });
  }

  /** Dispatches a signed directive from Alexa and notes it (what `skill status` shows as Alexa's last call). */
  #fromAlexa(via: DirectiveTransport): (directive: unknown) => ReturnType<AlexaDispatcher['dispatch']> {
    return async (directive) => {
      const reply = await this.dispatcher.dispatch(directive);
      try {
        this.cloud.noteDirective(via, directive, reply);
      } catch (err) {
        this.log.warn({ err }, 'could not note the directive in the store');
      }
      return reply;
    };
  }

  /** The web console's view of the services; its offers and hang-ups go through the dispatcher. */
  #consoleBackend(): ConsoleBackend {
    return new ConsoleBackend({
      cameras: this.config.cameras.map(({ id, name, kind, talkback }) => ({ id, name, kind, talkback })),
      dispatch: (directive) => this.dispatcher.dispatch(directive),
      health: (cameraId) => this.health.health(cameraId),
      stream: (cameraId) => this.streams.peek(cameraId)?.status(),
      talkback: (cameraId) => this.talkback.status(cameraId),
      events: (cameraId) => cameraEventsView(cameraId, this.events, this.eventSources),
      sessions: () => this.sessions.list(),
      endedSessions: () => this.sessions.ended(),
      alexa: () => this.cloud.status(),
      checklist: () => bridgeChecklist({ activity: this.cloud.activity(), events: this.cloud.status(), ...(this.relay && { relay: this.relay.status() }) }),
      relay: () => this.relay?.status(),
    });
  }

  /** Starts probes and the HTTP listener; resolves with the address it listens on. */
  async start(): Promise<string> {
    this.#ffmpeg = await findFfmpeg(this.#ffmpegPathOverride);
    if (this.#ffmpeg.error) this.log.warn({ reason: this.#ffmpeg.error }, 'ffmpeg not found: cameras cannot stream');
    else this.log.info({ path: this.#ffmpeg.path, source: this.#ffmpeg.source, version: this.#ffmpeg.version, release: this.#ffmpeg.release }, 'ffmpeg found');
    if (this.#ffmpeg.version && !this.#ffmpeg.release) this.log.warn({ version: this.#ffmpeg.version }, 'ffmpeg version not recognised: using the flags of ffmpeg 5.1 and later');
    if (!this.#weriftPatch.patched) this.log.error({ missing: this.#weriftPatch.missing }, unpatchedWeriftMessage(this.#weriftPatch));
    this.health.start();
    this.cloud.start();
    this.eventSources.start();
    this.relay?.start();
    if (this.#ffmpeg.path) {
      this.streams.startPreloaded();
      this.talkback.checkAll();
    }
    const address = await this.http.listen({ host: this.config.server.host, port: this.config.server.port });
    if (this.publicHttp) {
      const publicAddress = await this.publicHttp.listen({ host: this.config.server.publicHost, port: this.config.server.publicPort! });
      this.log.info({ address: publicAddress }, 'public listener: POST /alexa and /healthz only');
    }
    this.#listening = true;
    return address;
  }

  readiness(): ReadinessReport {
    const cameras = Object.fromEntries(
      this.config.cameras.map(({ id }) => {
        const health = this.health.health(id);
        const stream = this.streams.peek(id)?.status();
        return [id, {
          connectivity: health?.value ?? 'UNKNOWN',
          ...(health?.reason && { reason: health.reason }),
          ...(stream && { stream: stream.state, viewers: stream.viewers, ...(stream.lastFailure && { streamFailure: stream.lastFailure.message }) }),
          ...(this.talkback.status(id) && { talkback: this.talkback.status(id) }),
          ...(this.events.motion(id) && { motion: this.events.motion(id)!.value }),
          ...(this.eventSources.onvifStatus(id) && { onvif: onvifReadiness(this.eventSources.onvifStatus(id)!) }),
        }];
      }),
    );
    const checks: ReadinessReport['checks'] = {
      config: { ok: true, source: this.config.source, cameras: this.config.cameras.length },
      ffmpeg: { ok: !this.#ffmpeg.error && this.#ffmpeg.path !== undefined, ...this.#ffmpeg },
      listening: { ok: this.#listening },
      // Informational: a camera being down does not make the bridge unready.
      cameras: { ok: true, ...cameras },
      sessions: { ok: true, active: this.sessions.size },
      // An install without porchlight's werift patch is open to spoofed datagrams: not ready.
      webrtc: { ok: this.#weriftPatch.patched, weriftPatched: this.#weriftPatch.patched },
      // Informational like cameras: a broker that is down stops no live view.
      ...(this.eventSources.mqttStatus() && { mqtt: { ok: true, ...mqttReadiness(this.eventSources.mqttStatus()!) } }),
      // Informational: POST /alexa may still be reachable while the broker is not.
      ...(this.relay && { relay: { ok: true, ...this.relay.status() } }),
      // Events are best effort for readiness, but a needed re-link is shown loudly.
      alexa: { ok: true, ...this.cloud.status() },
    };
    return { ready: Object.values(checks).every((check) => check.ok), checks };
  }

  /** What the event outcome of the latest press of each camera was, for the HTTP API's answer. */
  readonly #lastPress = new Map<string, 'queued' | 'folded' | 'not-configured'>();

  /** A press from any source: one DoorbellPress (debounced) and a warm stream for the Echo that shows it. */
  #onPress(cameraId: string, source: EventSourceName, at: Date): void {
    const outcome = this.cloud.pressDoorbell(cameraId, at);
    this.#lastPress.set(cameraId, outcome);
    this.log.info({ cameraId, source, alexa: outcome }, 'doorbell press');
    this.#warm(cameraId, 'doorbell', PRESS_WARM_MS);
  }

  /** Starts the camera's stream (if it can run) so the next viewer gets the keyframe cache at once. */
  #warm(cameraId: string, reason: string, forMs?: number): void {
    if (!this.#ffmpeg.path || this.#closing || this.health.health(cameraId)?.value === 'UNREACHABLE') return;
    this.streams.get(cameraId)?.hold(reason, forMs);
  }

  #streamIfRunning(cameraId: string) {
    return this.#closing ? undefined : this.streams.peek(cameraId);
  }



  /** Why a camera cannot be viewed now, for an ENDPOINT_UNREACHABLE answer; undefined when it can. */
  #unavailable(cameraId: string): string | undefined {
    if (!this.#ffmpeg.path) return this.#ffmpeg.error ?? 'ffmpeg is not installed';
    const health = this.health.health(cameraId);
    if (health?.value === 'UNREACHABLE') {
      // Probe again so a camera that just came back is seen on the next try.
      this.health.probe(cameraId).catch(() => {});
      return health.reason ?? 'the camera does not answer';
    }
    const stream = this.streams.peek(cameraId)?.status();
    if (stream?.state === 'failed') return stream.lastFailure?.message ?? 'its stream cannot start';
    return undefined;
  }

  /** Idempotent: stops accepting requests, then stops the services it built. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#listening = false;
      await Promise.all([this.http.close(), this.publicHttp?.close(), this.relay?.close()]);
      await this.sessions.close();
      this.events.close();
      await Promise.all([this.streams.close(), this.talkback.close(), this.eventSources.close()]);
      this.health.close();
      await this.cloud.close();
    })();
    return this.#closing;
  }
}

async function findFfmpeg(override: string | undefined): Promise<FfmpegStatus> {
  const found = await resolveFfmpegPath(override ? { ...process.env, FFMPEG_PATH: override } : process.env);
  if (!found) return { error: 'no ffmpeg: install it (apt install ffmpeg) or set FFMPEG_PATH' };
  try {
    const { line, version } = await ffmpegVersionInfo(found.path);
    return { path: found.path, source: found.source, version: line, ...(version && { release: version }) };
  } catch (err) {
    return { path: found.path, source: found.source, error: `ffmpeg at ${found.path} does not run: ${(err as Error).message}` };
  }
}
