/** Directives shaped like Alexa's, with fresh ids, for tests. */

let counter = 0;

/** A directive shaped like Alexa's, with fresh ids. */
export function directive(namespace: string, name: string, options: { endpointId?: string; payload?: Record<string, unknown>; correlationToken?: string | null } = {}): any {
  counter += 1;
  const correlationToken = options.correlationToken === null ? undefined : (options.correlationToken ?? `corr-${counter}`);
  return {
    directive: {
      header: { namespace, name, payloadVersion: '3', messageId: `msg-${counter}-${Date.now()}`, ...(correlationToken && { correlationToken }) },
      ...(options.endpointId && { endpoint: { scope: { type: 'BearerToken', token: 'user-access-token-xyz' }, endpointId: options.endpointId, cookie: {} } }),
      payload: options.payload ?? {},
    },
  };
}

export function discoverDirective(): any {
  return directive('Alexa.Discovery', 'Discover', { correlationToken: null, payload: { scope: { type: 'BearerToken', token: 'user-access-token-xyz' } } });
}
