/**
 * What the Alexa layer needs from the rest of porchlight. The protocol code depends on these
 * interfaces only; camera/, webrtc/ and cloud/ implement them and app.ts wires them in.
 */
import { CodedError } from '../util/coded-error.ts';

export type Connectivity = 'OK' | 'UNREACHABLE';

export interface CameraEndpoint {
  id: string;
  name: string;
  kind: 'camera' | 'doorbell';
  /** Two-way audio works with this camera (drives isFullDuplexAudioSupported). */
  fullDuplexAudio: boolean;
  /** The camera reports motion (Alexa.MotionSensor). */
  motionSensor?: boolean;
  manufacturer?: string;
  model?: string;
}

export interface EndpointDirectory {
  has(endpointId: string): boolean;
}

export interface CameraDirectory extends EndpointDirectory {
  list(): CameraEndpoint[];
}

export interface ConnectivityReading {
  value: Connectivity;
  timeOfSample: Date;
}

export interface ConnectivitySource {
  /** The camera's latest health; waits for a first probe when there is none yet. */
  connectivity(cameraId: string): Promise<ConnectivityReading>;
}

export type Detection = 'DETECTED' | 'NOT_DETECTED';

export interface DetectionReading {
  value: Detection;
  timeOfSample: Date;
}

export interface MotionSource {
  /** The camera's motion state; undefined when it has no motion sensor. */
  motion(cameraId: string): DetectionReading | undefined;
}

export type SessionRefusalCode = 'BUSY' | 'BAD_OFFER' | 'UNREACHABLE' | 'TIMEOUT';

/** Why a live-view session could not be set up; the Alexa layer maps it to an ErrorResponse. */
export class SessionRefused extends CodedError<SessionRefusalCode> {}

export interface SessionOffer {
  sessionId: string;
  cameraId: string;
  offerSdp: string;
}

/** Live-view sessions (Alexa.RTCSessionController), implemented by webrtc/. */
export interface RtcSessions {
  /** Resolves with the complete SDP answer; rejects with SessionRefused. */
  offer(offer: SessionOffer): Promise<string>;
  /** Alexa reports its side connected; false when the session is not known (any more). */
  connected(sessionId: string): boolean;
  /** Idempotent: ends the session if it is still there. */
  /** Settles once the session is closed (its peer connection with it). */
  disconnect(sessionId: string): Promise<void>;
}

/** Account linking for proactive events (Alexa.Authorization), implemented by cloud/. */
export interface AccountLinking {
  /** Exchanges the grant code for tokens; rejects with an Error whose message says why (no secrets). */
  acceptGrant(code: string): Promise<void>;
}
