import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { acceptGrantHandler, NAMESPACE as AUTHORIZATION } from '../alexa/authorization.ts';
import { discoverHandler, discoveryEndpoint } from '../alexa/discovery.ts';
import { AlexaDispatcher } from '../alexa/dispatcher.ts';
import { reportStateHandler } from '../alexa/report-state.ts';
import { initiateSessionHandler, NAMESPACE as RTC, sessionConnectedHandler, sessionDisconnectedHandler } from '../alexa/rtc-session.ts';
import { CameraStreams } from '../camera/camera-streams.ts';
import { HealthMonitor } from '../camera/health.ts';
import { TalkbackManager } from '../camera/talkback-manager.ts';
import type { DirectiveTransport } from '../cloud/alexa-activity.ts';
import { bridgeChecklist } from '../cloud/alexa-checklist.ts';
import { AlexaCloud, type EventDeliveryTiming } from '../cloud/alexa-cloud.ts';
import { editableConfigPath } from '../config/config-file.ts';
import { EMBEDDED_SOURCE, loadConfigFile, PACKAGE_ROOT, portRange } from '../config/load.ts';
import { withSecrets } from '../config/secrets.ts';
import { loadRelayCredentials } from '../config/relay-credentials.ts';
import type { Config } from '../config/schema.ts';
import { CameraEvents } from '../events/camera-events.ts';
import { EventSources, hasMotion } from '../events/event-sources.ts';
import type { ConnectionCounts, ConnectionLimits } from '../http/connection-guard.ts';
import { ConsoleBackend } from '../http/console-backend.ts';
import { cameraEventsView } from '../http/event-status.ts';
import type { ReadinessReport } from '../http/health-routes.ts';
import { buildHttpServer, buildPublicServer, type AlexaSurfaceOptions } from '../http/server.ts';
import { Metrics } from '../metrics.ts';
import { RelayClient } from '../relay/relay-client.ts';
import { ReplayGuard } from '../signing/signature.ts';
import type { Backoff } from '../util/retry.ts';
import { iceServersForWerift } from '../webrtc/ice-servers.ts';
import { bridgeAddresses, gatherAddressCount } from '../util/network-interfaces.ts';
import { UdpPortPool } from '../webrtc/port-pool.ts';
import { SessionManager } from '../webrtc/session-manager.ts';
import { checkWeriftPatch, unpatchedWeriftMessage, type WeriftPatchCheck } from '../webrtc/werift-guard.ts';
import { cameraAdmin } from './camera-admin.ts';
import { ConfiguredCameras } from './camera-directory.ts';
import { EventReactions } from './event-reactions.ts';
import { findFfmpeg, type FfmpegStatus } from './ffmpeg-status.ts';
import { configChanges, type ConfigChanges } from './config-changes.ts';
import { ConfigReloader, type ReloadReason, type ReloadResult } from './config-reloader.ts';
import { readinessReport } from './readiness.ts';

export const VERSION: string = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

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

/**
 * The composition root: builds every service from the configuration in dependency order (each
 * from services built before it), wires their events together, and closes them in reverse order.
 * It holds no process-wide state (main.ts installs what is process-wide); tests build as many as
 * they like.
 */
export class App {
  readonly log: Logger;
  readonly health: HealthMonitor;
  readonly talkback: TalkbackManager;
  readonly cloud: AlexaCloud;
  readonly streams: CameraStreams;
  readonly events: CameraEvents;
  readonly eventSources: EventSources;
  readonly metrics: Metrics;
  readonly sessions: SessionManager;
  readonly dispatcher: AlexaDispatcher;
  /** Directives through the MQTT broker, beside POST /alexa (config `relay`). */
  readonly relay: RelayClient | undefined;
  /** The LAN listener: everything. */
  readonly http: FastifyInstance;
  /** `server.publicPort`: POST /alexa and /healthz only, what a router may forward. */
  readonly publicHttp: FastifyInstance | undefined;
  readonly #ffmpegPathOverride: string | undefined;
  /** Replaced by applyConfig(): cameras come and go while the bridge runs. */
  #config: Config;
  readonly #cameras: ConfiguredCameras;
  /** The file the bridge runs from (or, running the embedded demo, the one its first save creates), re-read on change. */
  readonly #reloader: ConfigReloader;
  /** Found by start(); until then, nothing streams. */
  #ffmpeg: FfmpegStatus = {};
  /** Read once: the werift bundle on disk does not change under a running bridge. */
  readonly #weriftPatch: WeriftPatchCheck = checkWeriftPatch();
  /** Connections both HTTP listeners closed, for /metrics. */
  readonly #httpConnections: ConnectionCounts = { idleClosed: 0, refused: 0 };
  #listening = false;
  #closing: Promise<void> | undefined;

  constructor(config: Config, log: Logger, options: AppOptions = {}) {
    this.#config = config;
    this.log = log;
    this.#reloader = new ConfigReloader({
      path: editableConfigPath(config.source === EMBEDDED_SOURCE ? undefined : config.source, config.dataDir),
      load: (path) => {
        const loaded = loadConfigFile(path);
        return withSecrets(loaded.config, loaded.source);
      },
      apply: (next) => this.applyConfig(next),
      log,
    });
    this.#ffmpegPathOverride = options.ffmpegPath;

    // Cameras: health probes, then talkback (it answers a camera with the scheme the probe found).
    this.health = new HealthMonitor({
      cameras: config.cameras.map(({ id, url }) => ({ id, url })),
      intervalMs: config.healthIntervalSec * 1000,
      log: log.child({ component: 'health' }),
    });
    this.talkback = new TalkbackManager({
      cameras: config.cameras,
      ffmpegPath: () => this.#ffmpeg.path,
      authScheme: (cameraId) => this.health.authScheme(cameraId),
      log: log.child({ component: 'talkback' }),
    });
    // Full duplex only where it works: `talkback: onvif` and no refusal from the camera so far.
    const cameras = new ConfiguredCameras(config.cameras, (id) => this.talkback.supported(id), (id) => this.#hasMotion(id));
    this.#cameras = cameras;

    // Alexa's side: tokens, the event outbox, what the bridge has heard from Alexa.
    this.cloud = new AlexaCloud({
      dataDir: config.dataDir,
      alexa: config.alexa,
      doorbellDebounceMs: config.doorbellDebounceSec * 1000,
      currentEndpoints: () => cameras.list().map((camera) => discoveryEndpoint(camera, VERSION)),
      log: log.child({ component: 'cloud' }),
      ...(options.eventDelivery && { delivery: options.eventDelivery }),
    });
    this.health.on('change', (cameraId, health) => this.cloud.reportConnectivity(cameraId, health.value, health.timeOfSample));

    this.streams = new CameraStreams({
      cameras: config.cameras,
      defaultLingerSec: config.lingerSec,
      ffmpegPath: () => this.#ffmpeg.path,
      ffmpegVersion: () => this.#ffmpeg.release,
      ...(options.cameraDownMs !== undefined && { downMs: options.cameraDownMs }),
      log: log.child({ component: 'camera' }),
      onStream: (stream) => {
        stream.on('failure', (failure) => this.health.noteStreamFailure(stream.id, failure.code, failure.message));
        stream.on('state', (state) => state === 'streaming' && this.health.noteStreamHealthy(stream.id));
      },
    });

    // Camera events: presses and motion from every source, turned into Alexa events and warm streams.
    const reactions = new EventReactions({
      cloud: this.cloud,
      streams: this.streams,
      health: this.health,
      log,
      canStream: () => this.#ffmpeg.path !== undefined && this.#closing === undefined,
    });
    this.events = new CameraEvents({
      cameras: this.#eventCameras(config),
      motionHoldMs: config.motionHoldSec * 1000,
      onPress: (cameraId, source, at) => reactions.press(cameraId, source, at),
      log: log.child({ component: 'events' }),
    });
    this.events.on('motion', (cameraId, reading) => reactions.motion(cameraId, reading));
    this.eventSources = new EventSources({
      cameras: config.cameras,
      mqtt: config.mqtt,
      events: this.events,
      log: log.child({ component: 'events' }),
      ...(options.eventSourceRetry && { retry: options.eventSourceRetry }),
    });

    // Counters read from the services when scraped (sessions and the relay are built below).
    this.metrics = new Metrics({
      cameras: () => this.config.cameras.map(({ id }) => {
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

    // Live view: one peer connection per Alexa session, fed by the camera's stream.
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
      ...(options.gatherTimeoutMs !== undefined && { gatherTimeoutMs: options.gatherTimeoutMs }),
      log: log.child({ component: 'webrtc' }),
    });

    // Alexa's directives, through POST /alexa and the relay alike.
    this.dispatcher = new AlexaDispatcher({ endpoints: cameras, log: log.child({ component: 'alexa' }) })
      .register('Alexa.Discovery', 'Discover', discoverHandler(cameras, VERSION), { endpoint: false })
      .register('Alexa', 'ReportState', reportStateHandler(this.health, this.events), { endpoint: true })
      .register(AUTHORIZATION, 'AcceptGrant', acceptGrantHandler(this.cloud), { endpoint: false })
      .register(RTC, 'InitiateSessionWithOffer', initiateSessionHandler(this.sessions), { endpoint: true })
      .register(RTC, 'SessionConnected', sessionConnectedHandler(this.sessions), { endpoint: true })
      .register(RTC, 'SessionDisconnected', sessionDisconnectedHandler(this.sessions), { endpoint: true });
    // One replay guard for both transports, kept in the store across restarts.
    const replays = new ReplayGuard(undefined, this.cloud.signatureLedger());
    this.relay = config.relay && new RelayClient({
      ...config.relay,
      // Checked by the config loader: a relay section only loads with readable, matching files.
      ...loadRelayCredentials(config.relay).credentials!,
      proxySecret: config.server.proxySecret,
      dispatch: this.#fromAlexa('relay'),
      replays,
      log: log.child({ component: 'relay' }),
      ...(options.relayRetry && { retry: options.relayRetry }),
    });


    // The listeners last: nothing answers before every service it reaches exists.
    const alexaSurface: AlexaSurfaceOptions = {
      log,
      proxySecret: config.server.proxySecret,
      dispatch: this.#fromAlexa('http'),
      replays,
      ...(config.server.tls && { tls: config.server.tls }),
      ...(config.server.trustedProxies && { trustedProxies: config.server.trustedProxies }),
      ...(options.httpLimits && { limits: options.httpLimits }),
      connectionCounts: this.#httpConnections,
    };
    this.publicHttp = config.server.publicPort === undefined ? undefined : buildPublicServer(alexaSurface);
    this.http = buildHttpServer({
      ...alexaSurface,
      readiness: () => this.readiness(),
      metrics: this.metrics,
      adminToken: config.server.adminToken,
      cameraAdmin: cameraAdmin({ config: () => this.#config, reload: () => this.reloadConfig('saved') }),
      pressDoorbell: (cameraId) => {
        const camera = cameras.get(cameraId);
        if (!camera) return 'unknown-camera';
        if (camera.kind !== 'doorbell') return 'not-a-doorbell';
        // Checked first: an API caller learns that Alexa hears nothing.
        if (!this.cloud.status().configured) return 'not-configured';
        const fate = this.events.press(cameraId, 'http');
        // 'ignored' only while shutting down: the press goes nowhere.
        return fate === 'ignored' ? 'not-configured' : fate;
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

  /** The configuration running now (applyConfig() replaces its cameras and MQTT settings). */
  get config(): Config {
    return this.#config;
  }

  /**
   * Applies a new configuration while running: added cameras become available (streams on first
   * use, probes, event sources), removed ones stop (their sessions end), changed ones are replaced;
   * unchanged cameras and their viewers are untouched. Alexa is told (AddOrUpdateReport,
   * DeleteReport). Settings outside the cameras and MQTT take a restart: they are named, not applied.
   */
  async applyConfig(next: Config): Promise<ConfigChanges> {
    const changes = configChanges(this.#config, next);
    this.#config = { ...this.#config, cameras: next.cameras, mqtt: next.mqtt, source: next.source };
    const { cameras, mqtt } = this.#config;
    this.#cameras.replace(cameras);
    this.health.setCameras(cameras.map(({ id, url }) => ({ id, url })));
    this.talkback.setCameras(cameras);
    this.streams.setCameras(cameras);
    this.events.setCameras(this.#eventCameras(this.#config));
    await this.eventSources.setCameras(cameras, mqtt);
    this.cloud.endpointsChanged();
    const { added, changed, removed, needRestart } = changes;
    if (added.length + changed.length + removed.length > 0 || changes.mqtt) this.log.info({ added, changed, removed, mqttChanged: changes.mqtt }, 'configuration applied: cameras updated without a restart');
    if (needRestart.length > 0) this.log.warn({ settings: needRestart }, 'these settings changed but take a restart to apply');
    return changes;
  }

  /**
   * Re-reads the configuration file and applies it (SIGHUP; the file is also watched once the
   * app has started). Never throws: a file that does not validate is refused in the log.
   */
  reloadConfig(reason: ReloadReason): Promise<ReloadResult> {
    return this.#reloader.reload(reason);
  }

  /** Finds ffmpeg, starts probes, event sources and the relay, then listens; resolves with the LAN address. */
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
    this.#reloader.watch();
    return address;
  }

  readiness(): ReadinessReport {
    return readinessReport({
      config: this.config,
      ffmpeg: this.#ffmpeg,
      listening: this.#listening,
      weriftPatched: this.#weriftPatch.patched,
      health: this.health,
      streams: this.streams,
      talkback: this.talkback,
      events: this.events,
      eventSources: this.eventSources,
      sessions: this.sessions,
      relay: this.relay,
      cloud: this.cloud,
    });
  }

  /** Idempotent: stops accepting requests, then stops the services in reverse order. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#listening = false;
      this.#reloader.close();
      await Promise.all([this.http.close(), this.publicHttp?.close(), this.relay?.close()]);
      await this.sessions.close();
      this.events.close();
      await Promise.all([this.streams.close(), this.talkback.close(), this.eventSources.close()]);
      this.health.close();
      await this.cloud.close();
    })();
    return this.#closing;
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
      cameras: () => this.config.cameras.map(({ id, name, kind, talkback }) => ({ id, name, kind, talkback })),
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

  #hasMotion(cameraId: string): boolean {
    const camera = this.#cameras.get(cameraId);
    return camera !== undefined && hasMotion(camera, this.#config.mqtt);
  }

  #eventCameras(config: Config): Array<{ id: string; kind: 'camera' | 'doorbell'; motion: boolean }> {
    return config.cameras.map((camera) => ({ id: camera.id, kind: camera.kind, motion: hasMotion(camera, config.mqtt) }));
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
}
