import { alexaTimestamp, buildEvent, type AlexaEvent } from './messages.ts';
import type { Connectivity, Detection } from './ports.ts';

/**
 * Proactive events porchlight sends to Alexa's event gateway. Built without the scope token:
 * the outbox may hold an event for hours, so the sender adds the access token current at sending.
 */

export function connectivityProperty(value: Connectivity, timeOfSample: Date) {
  return { namespace: 'Alexa.EndpointHealth', name: 'connectivity', value: { value }, timeOfSample: alexaTimestamp(timeOfSample), uncertaintyInMilliseconds: 0 };
}

export function healthChangeReport(messageId: string, endpointId: string, value: Connectivity, timeOfSample: Date): AlexaEvent {
  return buildEvent(messageId, { endpoint: { endpointId } }, {
    namespace: 'Alexa',
    name: 'ChangeReport',
    payload: { change: { cause: { type: 'PERIODIC_POLL' }, properties: [connectivityProperty(value, timeOfSample)] } },
    context: { properties: [] },
  });
}

export function detectionProperty(value: Detection, timeOfSample: Date) {
  return { namespace: 'Alexa.MotionSensor', name: 'detectionState', value, timeOfSample: alexaTimestamp(timeOfSample), uncertaintyInMilliseconds: 0 };
}

/** Motion seen or ended at the camera: a ChangeReport caused by something physical. */
export function motionChangeReport(messageId: string, endpointId: string, value: Detection, timeOfSample: Date): AlexaEvent {
  return buildEvent(messageId, { endpoint: { endpointId } }, {
    namespace: 'Alexa',
    name: 'ChangeReport',
    payload: { change: { cause: { type: 'PHYSICAL_INTERACTION' }, properties: [detectionProperty(value, timeOfSample)] } },
    context: { properties: [] },
  });
}

/** `timestamp` without fractional seconds: Alexa's DoorbellPress schema rejects them. */
export function doorbellPress(messageId: string, endpointId: string, pressedAt: Date): AlexaEvent {
  return buildEvent(messageId, { endpoint: { endpointId } }, {
    namespace: 'Alexa.DoorbellEventSource',
    name: 'DoorbellPress',
    payload: { cause: { type: 'PHYSICAL_INTERACTION' }, timestamp: alexaTimestamp(pressedAt, true) },
    context: { properties: [] },
  });
}

/** `payload.scope` is filled in by the sender, like the endpoint scope of the events above. */
export function addOrUpdateReport(messageId: string, endpoints: Record<string, unknown>[]): AlexaEvent {
  return buildEvent(messageId, {}, { namespace: 'Alexa.Discovery', name: 'AddOrUpdateReport', payload: { endpoints, scope: { type: 'BearerToken', token: '' } } });
}

export function deleteReport(messageId: string, endpointIds: string[]): AlexaEvent {
  return buildEvent(messageId, {}, {
    namespace: 'Alexa.Discovery',
    name: 'DeleteReport',
    payload: { endpoints: endpointIds.map((endpointId) => ({ endpointId })), scope: { type: 'BearerToken', token: '' } },
  });
}

/** A copy of `event` carrying `accessToken` wherever Alexa expects the user's token. */
export function withAccessToken(event: AlexaEvent, accessToken: string): AlexaEvent {
  const copy = structuredClone(event);
  const scope = { type: 'BearerToken' as const, token: accessToken };
  if (copy.event.endpoint) copy.event.endpoint.scope = scope;
  if (copy.event.payload.scope !== undefined) copy.event.payload.scope = scope;
  return copy;
}
