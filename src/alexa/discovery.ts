import { buildEvent, type AlexaEvent, type Directive } from './messages.ts';
import type { CameraDirectory, CameraEndpoint } from './ports.ts';
import type { HandlerContext } from './dispatcher.ts';

export const MANUFACTURER = 'porchlight';

/** Alexa caps these text fields at 128 characters. */
const clip = (text: string, max = 128): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/** One camera as an Alexa endpoint. A doorbell lists CAMERA first, or the Echo shows no video on a press. */
export function discoveryEndpoint(camera: CameraEndpoint, softwareVersion: string): Record<string, unknown> {
  const doorbell = camera.kind === 'doorbell';
  const capabilities: Record<string, unknown>[] = [
    {
      type: 'AlexaInterface',
      interface: 'Alexa.RTCSessionController',
      version: '3',
      configuration: { isFullDuplexAudioSupported: camera.fullDuplexAudio },
    },
    {
      type: 'AlexaInterface',
      interface: 'Alexa.EndpointHealth',
      version: '3',
      properties: { supported: [{ name: 'connectivity' }], proactivelyReported: true, retrievable: true },
    },
  ];
  if (doorbell) {
    capabilities.push({ type: 'AlexaInterface', interface: 'Alexa.DoorbellEventSource', version: '3', proactivelyReported: true });
  }
  if (camera.motionSensor) {
    capabilities.push({
      type: 'AlexaInterface',
      interface: 'Alexa.MotionSensor',
      version: '3',
      properties: { supported: [{ name: 'detectionState' }], proactivelyReported: true, retrievable: true },
    });
  }
  capabilities.push({ type: 'AlexaInterface', interface: 'Alexa', version: '3' });
  return {
    endpointId: camera.id,
    manufacturerName: clip(camera.manufacturer ?? MANUFACTURER),
    friendlyName: clip(camera.name),
    description: clip(`${doorbell ? 'Video doorbell' : 'Camera'} ${camera.name} via porchlight`),
    displayCategories: doorbell ? ['CAMERA', 'DOORBELL'] : ['CAMERA'],
    additionalAttributes: {
      ...(camera.manufacturer && { manufacturer: camera.manufacturer }),
      ...(camera.model && { model: camera.model }),
      softwareVersion,
      customIdentifier: camera.id,
    },
    capabilities,
  };
}

export function discoverHandler(cameras: CameraDirectory, softwareVersion: string) {
  return (directive: Directive, context: HandlerContext): AlexaEvent => {
    const endpoints = cameras.list().map((camera) => discoveryEndpoint(camera, softwareVersion));
    context.log.info({ endpoints: endpoints.length }, 'discovery');
    return buildEvent(
      context.newMessageId(),
      { correlationToken: directive.directive.header.correlationToken },
      { namespace: 'Alexa.Discovery', name: 'Discover.Response', payload: { endpoints }, withoutEndpoint: true },
    );
  };
}
