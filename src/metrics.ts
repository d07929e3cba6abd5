import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics. Most values are read from the services when scraped (their cumulative
 * counts), so the services need no metrics code; answer latency and session outcomes are
 * observed as they happen.
 */

export interface CameraCounters {
  id: string;
  connectivity: 'OK' | 'UNREACHABLE' | 'UNKNOWN';
  ffmpegStarts: number;
  ffmpegRestarts: number;
  packets: { video: number; audio: number };
  bytes: { video: number; audio: number };
  /** Packets dropped for viewers that fell behind, sessions gone included. */
  dropped: number;
}

export interface MetricsSources {
  cameras(): CameraCounters[];
  activeSessions(): number;
  events(): { delivered: number; dropped: number; queued: number; failing: boolean; relinkNeeded: boolean };
  /** Presses and motion heard, per camera, kind and source. */
  cameraEvents?(): Array<{ camera: string; kind: string; source: string; count: number }>;
  /** Failures of event sources (ONVIF per camera; MQTT with camera ""). */
  eventSourceFailures?(): Array<{ source: string; camera: string; failures: number }>;
  /** Connections the HTTP listeners closed: idle (nothing sent in time) or refused (per-address cap). */
  httpConnections?(): { idleClosed: number; refused: number };
  /** The relay to the MQTT broker, when configured. */
  relay?(): { state: string; served: number; refused: number } | undefined;
}

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  readonly registry = new Registry();
  readonly #answerSeconds: Histogram;
  readonly #firstMediaSeconds: Histogram;
  readonly #sessions: Counter<'outcome'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'porchlight_' });
    this.#answerSeconds = new Histogram({ name: 'porchlight_answer_seconds', help: 'Offer to SDP answer', buckets: SECONDS, registers });
    this.#firstMediaSeconds = new Histogram({
      name: 'porchlight_first_media_seconds',
      help: 'Viewer transport up to its first video packet sent (keyframe replay makes this ~0)',
      buckets: SECONDS,
      registers,
    });
    this.#sessions = new Counter({ name: 'porchlight_sessions_total', help: 'Live-view sessions by how they ended or were refused', labelNames: ['outcome'], registers });
    new Gauge({ name: 'porchlight_sessions_active', help: 'Live-view sessions now', registers, collect() {
      this.set(sources.activeSessions());
    } });
    const perCamera = (name: string, help: string, pick: (c: CameraCounters) => number) =>
      new Counter({ name, help, labelNames: ['camera'], registers, collect() {
        this.reset();
        for (const camera of sources.cameras()) this.inc({ camera: camera.id }, pick(camera));
      } });
    perCamera('porchlight_ffmpeg_starts_total', 'ffmpeg processes started', (c) => c.ffmpegStarts);
    perCamera('porchlight_ffmpeg_restarts_total', 'ffmpeg restarts after a failure', (c) => c.ffmpegRestarts);
    perCamera('porchlight_rtp_dropped_total', 'RTP packets dropped for slow viewers', (c) => c.dropped);
    const perKind = (name: string, help: string, pick: (c: CameraCounters) => { video: number; audio: number }) =>
      new Counter({ name, help, labelNames: ['camera', 'kind'], registers, collect() {
        this.reset();
        for (const camera of sources.cameras()) {
          const counts = pick(camera);
          this.inc({ camera: camera.id, kind: 'video' }, counts.video);
          this.inc({ camera: camera.id, kind: 'audio' }, counts.audio);
        }
      } });
    perKind('porchlight_rtp_packets_total', 'RTP packets received from the camera', (c) => c.packets);
    perKind('porchlight_rtp_bytes_total', 'RTP bytes received from the camera', (c) => c.bytes);
    new Gauge({ name: 'porchlight_camera_up', help: 'Camera connectivity: 1 OK, 0 unreachable', labelNames: ['camera'], registers, collect() {
      this.reset();
      for (const camera of sources.cameras()) if (camera.connectivity !== 'UNKNOWN') this.set({ camera: camera.id }, camera.connectivity === 'OK' ? 1 : 0);
    } });
    new Gauge({ name: 'porchlight_relay_connected', help: 'Relay to the MQTT broker: 1 connected, 0 not (absent without a relay)', registers, collect() {
      this.reset();
      const relay = sources.relay?.();
      if (relay) this.set(relay.state === 'connected' ? 1 : 0);
    } });
    new Counter({ name: 'porchlight_relay_directives_total', help: 'Directives through the relay: served, or refused (unsigned, forged, replayed, stale)', labelNames: ['result'], registers, collect() {
      this.reset();
      const relay = sources.relay?.();
      if (!relay) return;
      this.inc({ result: 'served' }, relay.served);
      this.inc({ result: 'refused' }, relay.refused);
    } });
    new Counter({ name: 'porchlight_http_connections_closed_total', help: 'HTTP connections the bridge closed: idle (nothing sent in time) or refused (too many from one address)', labelNames: ['reason'], registers, collect() {
      this.reset();
      const counts = sources.httpConnections?.();
      if (!counts) return;
      this.inc({ reason: 'idle' }, counts.idleClosed);
      this.inc({ reason: 'refused' }, counts.refused);
    } });
    new Counter({ name: 'porchlight_events_total', help: 'Events to Alexa by result', labelNames: ['result'], registers, collect() {
      this.reset();
      const events = sources.events();
      this.inc({ result: 'delivered' }, events.delivered);
      this.inc({ result: 'dropped' }, events.dropped);
    } });
    new Counter({ name: 'porchlight_camera_events_total', help: 'Doorbell presses and motion heard from cameras and hubs', labelNames: ['camera', 'kind', 'source'], registers, collect() {
      this.reset();
      for (const row of sources.cameraEvents?.() ?? []) this.inc({ camera: row.camera, kind: row.kind, source: row.source }, row.count);
    } });
    new Counter({ name: 'porchlight_event_source_failures_total', help: 'Failures of ONVIF event subscriptions and the MQTT connection', labelNames: ['source', 'camera'], registers, collect() {
      this.reset();
      for (const row of sources.eventSourceFailures?.() ?? []) this.inc({ source: row.source, camera: row.camera }, row.failures);
    } });
    new Gauge({ name: 'porchlight_events_queued', help: 'Events waiting in the outbox', registers, collect() {
      this.set(sources.events().queued);
    } });
    new Gauge({ name: 'porchlight_events_relink_needed', help: '1 when Alexa refuses events until the skill is linked again', registers, collect() {
      this.set(sources.events().relinkNeeded ? 1 : 0);
    } });
  }

  answered(ms: number): void {
    this.#answerSeconds.observe(ms / 1000);
  }

  firstMedia(ms: number): void {
    this.#firstMediaSeconds.observe(ms / 1000);
  }

  session(outcome: string): void {
    this.#sessions.inc({ outcome });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
