/**
 * The console's API as JSON, shared by the server (src/http/console-*.ts) and the page's modules
 * (which import these types only, so nothing of this file runs in the browser).
 * Self-contained on purpose: no imports, so the page's tsconfig needs neither Node nor server code.
 */

/** GET /api/status, and every message the WebSocket /api/ws pushes after it authenticated. */
export interface ConsoleStatus {
  cameras: CameraView[];
  sessions: SessionView[];
  /** Sessions that ended lately (at most 20), newest first. */
  ended?: EndedSessionView[];
  alexa: OutboxView;
  /** Is Alexa reaching this bridge: each step ✔ or ✘ with its fix (the bridge's side of `porchlight skill status`). */
  checklist?: ChecklistItemView[];
  /** The relay to the MQTT broker (config `relay`); absent without one. */
  relay?: RelayView;
}

export interface RelayView {
  state: 'connecting' | 'connected' | 'disconnected' | 'closed';
  bridgeId: string;
  since: string;
  lastError?: string;
  served: number;
  refused: number;
}

export interface CameraView {
  id: string;
  name: string;
  kind: 'camera' | 'doorbell';
  /** The debounced health probe; UNKNOWN before the first probe finished. */
  connectivity: 'OK' | 'UNREACHABLE' | 'UNKNOWN';
  /** Why it is unreachable. */
  reason?: string;
  /** The camera's ffmpeg: idle when nobody watches (and no preload). */
  stream: 'idle' | 'starting' | 'streaming' | 'restarting' | 'failed' | 'closed';
  /** The camera's own video, once its stream has run. */
  codec?: string;
  width?: number;
  height?: number;
  /** copy: passthrough; transcode: re-encoded to 720p baseline H.264. */
  plan?: 'copy' | 'transcode';
  /** What the camera's stream delivers (video + audio RTP), measured while streaming. */
  bitrateKbps?: number;
  viewers: number;
  /** Only for cameras configured `talkback: onvif`. */
  talkback?: {
    capability: 'unknown' | 'available' | 'unsupported';
    reason?: string;
    /** The session talking through the camera now. */
    talker?: string;
    lastFailure?: string;
  };
  /** Presses and motion: only for cameras with an event source or a motion sensor. */
  events?: CameraEventsView;
}

export interface CameraEventsView {
  /** Alexa.MotionSensor's detectionState; absent when the camera has no motion sensor. */
  motion?: 'DETECTED' | 'NOT_DETECTED';
  sources: EventSourceView[];
  /** The last 20 presses and motion changes, newest first. */
  recent: Array<{ kind: 'doorbell' | 'motion'; source: 'onvif' | 'mqtt' | 'http'; value: 'press' | 'on' | 'off'; at: string }>;
}

export interface EventSourceView {
  name: 'onvif' | 'mqtt';
  state: 'connecting' | 'subscribed' | 'connected' | 'disconnected' | 'failing' | 'closed';
  /** Why it is failing or disconnected. */
  reason?: string;
}

export interface SessionView {
  id: string;
  /** The camera's id. */
  camera: string;
  /** ISO 8601. */
  since: string;
  state: 'answered' | 'connected';
  bytesSent: number;
  /** Who opened it: an Echo (through POST /alexa) or this console's Watch/Talk. */
  origin: 'alexa' | 'console';
}

export interface EndedSessionView {
  id: string;
  camera: string;
  /** ISO 8601. */
  since: string;
  endedAt: string;
  /**
   * Why it ended, as in porchlight_sessions_total (with `-` for `_`): disconnected, replaced,
   * ice-failed (the viewer and porchlight never reached each other), connect-timeout,
   * answer-timeout (answered too late for Alexa), connection-failed, viewer-silent, max-lifetime, camera-stopped, media-stalled, shutdown.
   */
  outcome: string;
  /** What to do about it (ice-failed: the candidates each side offered and the TURN hint). */
  detail?: string;
}

export interface ChecklistItemView {
  id: string;
  ok: boolean;
  what: string;
  fix?: string;
}

/** Events to Alexa (DoorbellPress, ChangeReport…) and their durable outbox. */
export interface OutboxView {
  /** alexa.clientId / clientSecret are set. */
  configured: boolean;
  /** AcceptGrant received: porchlight holds tokens to send events. */
  linked: boolean;
  queued: number;
  delivered: number;
  dropped: number;
  /** The last attempt failed and a retry is scheduled. */
  failing: boolean;
  /** Alexa answered 403: the user must re-enable / re-link the skill. */
  relinkNeeded: boolean;
  lastError?: string;
}

/** POST /api/cameras/:id/watch */
export interface WatchRequest {
  /** The browser's SDP offer, complete (ICE gathering finished: no trickle). */
  offer: string;
  /** Send the microphone to the camera's speaker (talkback cameras). */
  talk?: boolean;
}

export interface WatchResponse {
  sessionId: string;
  answer: string;
  /** This session holds the camera's talkback (false when another session does). */
  talking: boolean;
}

/** Every 4xx/5xx body of /api. For a refused offer: error is the ErrorResponse type, reason its message. */
export interface ApiError {
  error: string;
  reason?: string;
}

/**
 * WebSocket /api/ws: the first message the client sends (unless its upgrade request carried
 * Authorization: Bearer). A missing or wrong token closes the socket with code 4401.
 */
export interface WsHello {
  token: string;
}
