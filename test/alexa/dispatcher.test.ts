import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AlexaDispatcher } from '../../src/alexa/dispatcher.ts';
import { discoverHandler } from '../../src/alexa/discovery.ts';
import { AlexaError, alexaTimestamp, buildEvent, replyTo } from '../../src/alexa/messages.ts';
import type { CameraDirectory, CameraEndpoint } from '../../src/alexa/ports.ts';
import { createLogger } from '../../src/log.ts';
import { Writable } from 'node:stream';
import { assertValidAlexaMessage } from '../helpers/alexa-schema.ts';
import { directive, discoverDirective } from '../helpers/directives.ts';

function captureLog() {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', destination: new Writable({ write: (c, _e, done) => (lines.push(c.toString()), done()) }) });
  return { log, lines };
}

function cameraList(cameras: CameraEndpoint[]): CameraDirectory {
  return { has: (id) => cameras.some((c) => c.id === id), list: () => cameras };
}

const cameras = cameraList([
  { id: 'yard', name: 'Yard', kind: 'camera', fullDuplexAudio: false },
  { id: 'door', name: 'D'.repeat(200), kind: 'doorbell', fullDuplexAudio: true },
]);

describe('AlexaDispatcher', () => {
  test('a handler exception → INTERNAL_ERROR, logged with the messageId', async () => {
    const { log, lines } = captureLog();
    const dispatcher = new AlexaDispatcher({ endpoints: cameras, log }).register('Alexa', 'Boom', () => {
      throw new TypeError('kaboom');
    }, { endpoint: true });
    const request = directive('Alexa', 'Boom', { endpointId: 'yard' });
    const reply = await dispatcher.dispatch(request);
    assertValidAlexaMessage(reply);
    assert.equal(reply.event.payload.type, 'INTERNAL_ERROR');
    assert.equal(reply.event.header.correlationToken, request.directive.header.correlationToken);
    const logged = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'directive handler failed');
    assert.equal(logged.messageId, request.directive.header.messageId);
    assert.match(logged.err.message, /kaboom/);
  });

  test('an AlexaError keeps its type and extra payload fields', async () => {
    const dispatcher = new AlexaDispatcher({ endpoints: cameras, log: captureLog().log }).register('Alexa', 'Busy', () => {
      throw new AlexaError('NOT_SUPPORTED_IN_CURRENT_MODE', 'not set up', { extra: { currentDeviceMode: 'NOT_PROVISIONED' } });
    }, { endpoint: true });
    const reply = await dispatcher.dispatch(directive('Alexa', 'Busy', { endpointId: 'yard' }));
    assertValidAlexaMessage(reply);
    assert.deepEqual(reply.event.payload, { type: 'NOT_SUPPORTED_IN_CURRENT_MODE', message: 'not set up', currentDeviceMode: 'NOT_PROVISIONED' });
  });

  test('an endpoint directive without an endpoint → INVALID_DIRECTIVE', async () => {
    const dispatcher = new AlexaDispatcher({ endpoints: cameras, log: captureLog().log }).register('Alexa', 'ReportState', () => assert.fail('not reached'), { endpoint: true });
    const reply = await dispatcher.dispatch(directive('Alexa', 'ReportState'));
    assertValidAlexaMessage(reply);
    assert.equal(reply.event.payload.type, 'INVALID_DIRECTIVE');
  });

  const malformed: Array<[string, unknown]> = [
    ['null', null],
    ['array', []],
    ['no directive', { hello: 1 }],
    ['payloadVersion 2', { directive: { header: { namespace: 'Alexa', name: 'ReportState', messageId: 'm', payloadVersion: '2' }, payload: {} } }],
    ['endpointId with spaces', { directive: { header: { namespace: 'Alexa', name: 'ReportState', messageId: 'm', payloadVersion: '3', correlationToken: 'c' }, endpoint: { endpointId: 'a b' }, payload: {} } }],
    ['payload missing', { directive: { header: { namespace: 'Alexa', name: 'ReportState', messageId: 'm', payloadVersion: '3' } } }],
  ];
  for (const [name, body] of malformed) {
    test(`malformed: ${name} → schema-valid INVALID_DIRECTIVE`, async () => {
      const reply = await new AlexaDispatcher({ endpoints: cameras, log: captureLog().log }).dispatch(body);
      assertValidAlexaMessage(reply);
      assert.equal(reply.event.header.name, 'ErrorResponse');
      assert.equal(reply.event.payload.type, 'INVALID_DIRECTIVE');
    });
  }

  test('responses get a fresh messageId each time', async () => {
    let n = 0;
    const dispatcher = new AlexaDispatcher({ endpoints: cameras, log: captureLog().log, newMessageId: () => `id-${++n}` });
    const a = await dispatcher.dispatch(directive('X', 'Y'));
    const b = await dispatcher.dispatch(directive('X', 'Y'));
    assert.deepEqual([a.event.header.messageId, b.event.header.messageId], ['id-1', 'id-2']);
  });
});

describe('discovery', () => {
  test('long names are clipped to 128, full duplex follows the port', async () => {
    const dispatcher = new AlexaDispatcher({ endpoints: cameras, log: captureLog().log })
      .register('Alexa.Discovery', 'Discover', discoverHandler(cameras, '1.2.3'), { endpoint: false });
    const reply = await dispatcher.dispatch(discoverDirective());
    assertValidAlexaMessage(reply);
    const [yard, door] = reply.event.payload.endpoints as any[];
    assert.equal(door.friendlyName.length, 128);
    assert.ok(door.description.length <= 128);
    assert.equal(door.capabilities[0].configuration.isFullDuplexAudioSupported, true);
    assert.equal(yard.capabilities[0].configuration.isFullDuplexAudioSupported, false);
    assert.equal(yard.additionalAttributes.softwareVersion, '1.2.3');
    assert.equal(reply.event.endpoint, undefined);
  });
});

describe('messages', () => {
  test('timestamps with and without fractional seconds', () => {
    const date = new Date('2026-11-21T20:15:03.456Z');
    assert.equal(alexaTimestamp(date), '2026-11-21T20:15:03.456Z');
    assert.equal(alexaTimestamp(date, true), '2026-11-21T20:15:03Z');
  });

  test('buildEvent copies the correlation token and endpoint', () => {
    const request = directive('Alexa', 'ReportState', { endpointId: 'yard' });
    const event = buildEvent('fresh', replyTo(request), { namespace: 'Alexa', name: 'Response' });
    assert.equal(event.event.header.correlationToken, request.directive.header.correlationToken);
    assert.deepEqual(event.event.endpoint, { scope: request.directive.endpoint.scope, endpointId: 'yard' });
    assertValidAlexaMessage(event);
  });
});
