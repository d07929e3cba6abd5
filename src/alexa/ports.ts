/**
 * What the Alexa layer needs from the rest of porchlight. The protocol code depends on these
 * interfaces only; camera/, webrtc/ and cloud/ implement them and app.ts wires them in.
 */

export type Connectivity = 'OK' | 'UNREACHABLE';

export interface CameraEndpoint {
  id: string;
  name: string;
  kind: 'camera' | 'doorbell';
  /** Two-way audio works with this camera (drives isFullDuplexAudioSupported). */
  fullDuplexAudio: boolean;
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
