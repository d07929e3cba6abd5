import type { CameraEventsView, EventSourceView } from '../web/console-api.ts';
import type { CameraEvents } from '../events/camera-events.ts';
import type { EventSources } from '../events/event-sources.ts';
import type { MqttStatus } from '../events/mqtt-source.ts';
import type { OnvifStatus } from '../events/onvif-source.ts';

/** How event sources look to people: the console's camera card and /readyz. No I/O. */

/** A camera's motion, sources and recent events for the console; undefined when it has none. */
export function cameraEventsView(cameraId: string, events: CameraEvents, sources: EventSources): CameraEventsView | undefined {
  const motion = events.motion(cameraId);
  const views: EventSourceView[] = [];
  const onvif = sources.onvifStatus(cameraId);
  if (onvif) views.push({ name: 'onvif', state: onvif.state, ...(onvif.reason && onvif.state === 'failing' && { reason: onvif.reason }) });
  const mqtt = sources.mqttStatus();
  if (mqtt) views.push({ name: 'mqtt', state: mqtt.state, ...(mqtt.lastError && mqtt.state !== 'connected' && { reason: mqtt.lastError }) });
  const recent = events.recent(cameraId);
  if (!motion && views.length === 0 && recent.length === 0) return undefined;
  return { ...(motion && { motion: motion.value }), sources: views, recent };
}

/** A camera's ONVIF subscription in /readyz: why it fails only while it does. */
export function onvifReadiness(status: OnvifStatus): Record<string, unknown> {
  return {
    state: status.state,
    since: status.since,
    ...(status.reason && status.state !== 'subscribed' && { reason: status.reason }),
    ...(status.clockOffsetMs !== undefined && { clockOffsetMs: status.clockOffsetMs }),
    events: status.events,
  };
}

/** The MQTT connection in /readyz, its URL without credentials. */
export function mqttReadiness(status: MqttStatus): Record<string, unknown> {
  return {
    state: status.state,
    url: status.url,
    since: status.since,
    ...(status.lastError && status.state !== 'connected' && { lastError: status.lastError }),
    messages: status.messages,
  };
}
