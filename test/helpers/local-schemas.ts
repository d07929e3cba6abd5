import assert from 'node:assert/strict';

/**
 * Amazon's schema in test/alexa-schema has no Alexa.Discovery DeleteReport. This checks the
 * documented shape (developer.amazon.com, Alexa.Discovery interface, "DeleteReport event").
 */
export function assertValidDeleteReport(message: any): void {
  const { event } = message;
  assert.deepEqual(Object.keys(message), ['event']);
  assert.equal(event.header.namespace, 'Alexa.Discovery');
  assert.equal(event.header.name, 'DeleteReport');
  assert.equal(event.header.payloadVersion, '3');
  assert.match(event.header.messageId, /^[a-zA-Z0-9-]{1,127}$/);
  assert.deepEqual(Object.keys(event.payload).sort(), ['endpoints', 'scope']);
  assert.ok(Array.isArray(event.payload.endpoints) && event.payload.endpoints.length > 0);
  for (const endpoint of event.payload.endpoints) {
    assert.deepEqual(Object.keys(endpoint), ['endpointId']);
    assert.match(endpoint.endpointId, /^[a-zA-Z0-9_\-=#;:?@&]{1,256}$/);
  }
  assert.equal(event.payload.scope.type, 'BearerToken');
  assert.ok(typeof event.payload.scope.token === 'string' && event.payload.scope.token.length > 0);
}
