import { alexaTimestamp, buildEvent, replyTo, type AlexaEvent, type Directive } from './messages.ts';
import { detectionProperty } from './events.ts';
import type { ConnectivitySource, MotionSource } from './ports.ts';
import type { HandlerContext } from './dispatcher.ts';

/**
 * ReportState → StateReport with the camera's EndpointHealth, and its MotionSensor
 * detectionState when it has one. An unreachable camera still gets a StateReport (connectivity
 * UNREACHABLE), as Alexa's EndpointHealth documentation asks.
 */
export function reportStateHandler(health: ConnectivitySource, motion?: MotionSource) {
  return async (directive: Directive, context: HandlerContext): Promise<AlexaEvent> => {
    const endpointId = directive.directive.endpoint!.endpointId;
    const reading = await health.connectivity(endpointId);
    const now = context.now().getTime();
    const age = Math.max(0, now - reading.timeOfSample.getTime());
    const detection = motion?.motion(endpointId);
    return buildEvent(context.newMessageId(), replyTo(directive), {
      namespace: 'Alexa',
      name: 'StateReport',
      context: {
        properties: [
          {
            namespace: 'Alexa.EndpointHealth',
            name: 'connectivity',
            value: { value: reading.value },
            timeOfSample: alexaTimestamp(reading.timeOfSample),
            uncertaintyInMilliseconds: Math.min(age, 2147483647),
          },
          // The state is pushed as it changes, so it is as fresh as the last message: no uncertainty.
          ...(detection ? [detectionProperty(detection.value, detection.timeOfSample)] : []),
        ],
      },
    });
  };
}
