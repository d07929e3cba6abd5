import { randomUUID } from 'node:crypto';
import type { AlexaEvent } from '../alexa/messages.ts';
import { NAMESPACE as RTC } from '../alexa/rtc-session.ts';
import type { CameraStreamStatus } from '../camera/camera-stream.ts';
import type { CameraHealth } from '../camera/health.ts';
import type { TalkbackStatus } from '../camera/talkback-manager.ts';
import type { AlexaCloudStatus } from '../cloud/alexa-cloud.ts';
import type { ChecklistItem } from '../cloud/alexa-checklist.ts';
import type { CameraEventsView, CameraView, ConsoleStatus, RelayView } from '../web/console-api.ts';
import type { EndedSessionInfo, SessionInfo } from '../webrtc/session-manager.ts';

/** What the console shows and does, over the services app.ts built. No HTTP here. */

export interface ConsoleCamera {
  id: string;
  name: string;
  kind: 'camera' | 'doorbell';
  talkback: 'none' | 'onvif';
}

export interface ConsoleBackendOptions {
  /** Read at each use: cameras are added and removed while the bridge runs. */
  cameras: () => ConsoleCamera[];
  /** The app's AlexaDispatcher: the console's offers and hang-ups take the Echo's path. */
  dispatch: (directive: unknown) => Promise<AlexaEvent>;
  health: (cameraId: string) => CameraHealth | undefined;
  /** The camera's stream status; undefined while no stream was made. */
  stream: (cameraId: string) => CameraStreamStatus | undefined;
  talkback: (cameraId: string) => TalkbackStatus | undefined;
  /** Event sources, motion and recent events; undefined for a camera without any. */
  events: (cameraId: string) => CameraEventsView | undefined;
  sessions: () => SessionInfo[];
  /** Sessions that ended lately, newest first, with why. */
  endedSessions?: () => EndedSessionInfo[];
  alexa: () => AlexaCloudStatus;
  /** The bridge's Alexa checklist (cloud/alexa-checklist.ts). */
  checklist?: () => ChecklistItem[];
  /** The relay's state, when the bridge has one. */
  relay?: () => RelayView | undefined;
  now?: () => number;
}

export type WatchResult =
  | { ok: true; sessionId: string; answer: string; talking: boolean }
  | { ok: false; status: number; error: string; reason: string };

export type HangupResult = { ok: true } | { ok: false; status: number; error: string; reason: string };

/** HTTP status for an ErrorResponse type: always 4xx (the request was handled; the camera said no). */
const ERROR_STATUS: Record<string, number> = {
  NO_SUCH_ENDPOINT: 404,
  INVALID_DIRECTIVE: 400,
  INVALID_VALUE: 400,
  ENDPOINT_BUSY: 409,
  ENDPOINT_UNREACHABLE: 409,
};

/** Bitrate is measured over windows of at least this long. */
const RATE_WINDOW_MS = 900;

export class ConsoleBackend {
  readonly #options: ConsoleBackendOptions;
  readonly #now: () => number;
  /** Sessions this console offered (the rest came from Alexa); pruned as they end. */
  readonly #consoleSessions = new Set<string>();
  readonly #rates = new Map<string, { bytes: number; at: number; kbps?: number }>();

  constructor(options: ConsoleBackendOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  status(): ConsoleStatus {
    const sessions = this.#options.sessions();
    const live = new Set(sessions.map((s) => s.id));
    for (const id of this.#consoleSessions) if (!live.has(id)) this.#consoleSessions.delete(id);
    const relayView = this.#options.relay?.();
    return {
      cameras: this.#options.cameras().map((camera) => this.#camera(camera)),
      sessions: sessions.map((s) => ({
        id: s.id,
        camera: s.cameraId,
        since: s.since,
        state: s.state,
        bytesSent: s.bytesSent,
        origin: this.#consoleSessions.has(s.id) ? 'console' : 'alexa',
      })),
      ended: (this.#options.endedSessions?.() ?? []).map((s) => ({
        id: s.id,
        camera: s.cameraId,
        since: s.since,
        endedAt: s.endedAt,
        outcome: s.outcome,
        ...(s.detail && { detail: s.detail }),
      })),
      alexa: this.#options.alexa(),
      ...(this.#options.checklist && { checklist: this.#options.checklist() }),
      ...(relayView && { relay: relayView }),
    };
  }

  /**
   * A live view for the console: the browser's offer goes into a real InitiateSessionWithOffer
   * directive through the dispatcher, exactly as an Echo's would.
   */
  async watch(cameraId: string, offerSdp: string, options: { talk?: boolean } = {}): Promise<WatchResult> {
    // An unknown camera is the dispatcher's to refuse (NO_SUCH_ENDPOINT), as it would for an Echo.
    const camera = this.#options.cameras().find((c) => c.id === cameraId);
    if (camera && options.talk && (camera.talkback !== 'onvif' || this.#options.talkback(cameraId)?.capability === 'unsupported')) {
      const why = this.#options.talkback(cameraId)?.reason;
      return { ok: false, status: 409, error: 'talkback_unavailable', reason: `camera "${cameraId}" cannot take talkback${why ? `: ${why}` : ''}` };
    }
    const sessionId = `console-${randomUUID()}`;
    const reply = await this.#options.dispatch(
      directive('InitiateSessionWithOffer', cameraId, { sessionId, offer: { format: 'SDP', value: offerSdp } }),
    );
    const refused = errorOf(reply);
    if (refused) return refused;
    const answer = (reply.event.payload as { answer?: { value?: unknown } }).answer?.value;
    if (typeof answer !== 'string') return { ok: false, status: 502, error: 'no_answer', reason: `unexpected reply ${reply.event.header.name}` };
    this.#consoleSessions.add(sessionId);
    return { ok: true, sessionId, answer, talking: this.#options.talkback(cameraId)?.talker === sessionId };
  }

  /** Ends any live session (the console's or an Echo's) with a SessionDisconnected directive. */
  async hangup(sessionId: string): Promise<HangupResult> {
    const session = this.#options.sessions().find((s) => s.id === sessionId);
    if (!session) return { ok: false, status: 404, error: 'not_found', reason: `no live session "${sessionId}"` };
    const reply = await this.#options.dispatch(directive('SessionDisconnected', session.cameraId, { sessionId }));
    const refused = errorOf(reply);
    if (refused) return refused;
    this.#consoleSessions.delete(sessionId);
    return { ok: true };
  }

  #camera(camera: ConsoleCamera): CameraView {
    const health = this.#options.health(camera.id);
    const stream = this.#options.stream(camera.id);
    const source = stream?.source;
    const bitrateKbps = this.#bitrate(camera.id, stream);
    const talkback = camera.talkback === 'onvif' ? this.#options.talkback(camera.id) : undefined;
    const events = this.#options.events(camera.id);
    return {
      id: camera.id,
      name: camera.name,
      kind: camera.kind,
      connectivity: health?.value ?? 'UNKNOWN',
      ...(health?.reason && { reason: health.reason }),
      stream: stream?.state ?? 'idle',
      ...(source?.codec && { codec: source.codec }),
      ...(source?.width && { width: source.width }),
      ...(source?.height && { height: source.height }),
      ...(stream?.plan && { plan: stream.plan.mode }),
      ...(bitrateKbps !== undefined && { bitrateKbps }),
      viewers: stream?.viewers ?? 0,
      ...(talkback && { talkback }),
      ...(events && { events }),
    };
  }

  /** kbit/s from the stream's byte counter, over the time since the previous reading (≥ 0.9 s). */
  #bitrate(cameraId: string, stream: CameraStreamStatus | undefined): number | undefined {
    if (!stream || stream.state !== 'streaming') {
      this.#rates.delete(cameraId);
      return undefined;
    }
    const bytes = stream.bytes.video + stream.bytes.audio;
    const now = this.#now();
    const last = this.#rates.get(cameraId);
    if (!last || bytes < last.bytes) {
      this.#rates.set(cameraId, { bytes, at: now });
      return undefined;
    }
    if (now - last.at < RATE_WINDOW_MS) return last.kbps;
    const kbps = Math.round(((bytes - last.bytes) * 8) / (now - last.at)); // bits per ms = kbit/s
    this.#rates.set(cameraId, { bytes, at: now, kbps });
    return kbps;
  }
}

/** An Alexa.RTCSessionController directive shaped like the Echo's, with fresh ids. */
function directive(name: string, endpointId: string, payload: Record<string, unknown>): unknown {
  return {
    directive: {
      header: { namespace: RTC, name, payloadVersion: '3', messageId: randomUUID(), correlationToken: randomUUID() },
      endpoint: { endpointId },
      payload,
    },
  };
}

function errorOf(reply: AlexaEvent): Extract<WatchResult, { ok: false }> | undefined {
  if (reply.event.header.name !== 'ErrorResponse') return undefined;
  const { type, message } = reply.event.payload as { type?: string; message?: string };
  return { ok: false, status: ERROR_STATUS[type ?? ''] ?? 422, error: type ?? 'ERROR', reason: message ?? 'refused' };
}
