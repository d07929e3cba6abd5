import type { CameraStreams } from '../camera/camera-streams.ts';
import type { HealthMonitor } from '../camera/health.ts';
import type { TalkbackManager } from '../camera/talkback-manager.ts';
import type { AlexaCloud } from '../cloud/alexa-cloud.ts';
import type { Config } from '../config/schema.ts';
import type { CameraEvents } from '../events/camera-events.ts';
import type { EventSources } from '../events/event-sources.ts';
import { mqttReadiness, onvifReadiness } from '../http/event-status.ts';
import type { ReadinessReport } from '../http/health-routes.ts';
import type { RelayClient } from '../relay/relay-client.ts';
import type { SessionManager } from '../webrtc/session-manager.ts';
import type { FfmpegStatus } from './ffmpeg-status.ts';

/** What /readyz reads. */
export interface ReadinessSources {
  config: Config;
  ffmpeg: FfmpegStatus;
  listening: boolean;
  weriftPatched: boolean;
  health: HealthMonitor;
  streams: CameraStreams;
  talkback: TalkbackManager;
  events: CameraEvents;
  eventSources: EventSources;
  sessions: SessionManager;
  relay: RelayClient | undefined;
  cloud: AlexaCloud;
}

/**
 * GET /readyz: ready when the config loaded, ffmpeg was found, the listener is up and werift is
 * patched. Cameras, the broker, the relay and Alexa's events are shown but never make the bridge
 * unready: a camera being down stops no other live view.
 */
export function readinessReport(s: ReadinessSources): ReadinessReport {
  const cameras = Object.fromEntries(
    s.config.cameras.map(({ id }) => {
      const health = s.health.health(id);
      const stream = s.streams.peek(id)?.status();
      const talkback = s.talkback.status(id);
      const motion = s.events.motion(id);
      const onvif = s.eventSources.onvifStatus(id);
      return [id, {
        connectivity: health?.value ?? 'UNKNOWN',
        ...(health?.reason && { reason: health.reason }),
        ...(stream && { stream: stream.state, viewers: stream.viewers, ...(stream.lastFailure && { streamFailure: stream.lastFailure.message }) }),
        ...(talkback && { talkback }),
        ...(motion && { motion: motion.value }),
        ...(onvif && { onvif: onvifReadiness(onvif) }),
      }];
    }),
  );
  const mqtt = s.eventSources.mqttStatus();
  const checks: ReadinessReport['checks'] = {
    config: { ok: true, source: s.config.source, cameras: s.config.cameras.length },
    ffmpeg: { ok: !s.ffmpeg.error && s.ffmpeg.path !== undefined, ...s.ffmpeg },
    listening: { ok: s.listening },
    // Informational: a camera being down does not make the bridge unready.
    cameras: { ok: true, ...cameras },
    sessions: { ok: true, active: s.sessions.size },
    // An install without porchlight's werift patch is open to spoofed datagrams: not ready.
    webrtc: { ok: s.weriftPatched, weriftPatched: s.weriftPatched },
    // Informational like cameras: a broker that is down stops no live view.
    ...(mqtt && { mqtt: { ok: true, ...mqttReadiness(mqtt) } }),
    // Informational: POST /alexa may still be reachable while the broker is not.
    ...(s.relay && { relay: { ok: true, ...s.relay.status() } }),
    // Events are best effort for readiness, but a needed re-link is shown loudly.
    alexa: { ok: true, ...s.cloud.status() },
  };
  return { ready: Object.values(checks).every((check) => check.ok), checks };
}
