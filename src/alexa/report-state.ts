import { alexaTimestamp, buildEvent, replyTo, type AlexaEvent, type Directive } from './messages.ts';
import type { ConnectivitySource } from './ports.ts';
import type { HandlerContext } from './dispatcher.ts';

/**
 * ReportState → StateReport with the camera's EndpointHealth. An unreachable camera still gets a
 * StateReport (connectivity UNREACHABLE), as Alexa's EndpointHealth documentation asks.
 */
export function reportStateHandler(health: ConnectivitySource) {
  return async (directive: Directive, context: HandlerContext): Promise<AlexaEvent> => {
    const endpointId = directive.directive.endpoint!.endpointId;
    const reading = await health.connectivity(endpointId);
    const age = Math.max(0, context.now().getTime() - reading.timeOfSample.getTime());
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
        ],
      },
    });
  };
}
