/** The relay's topic and client-id names (docs/architecture.md "Relay"), shared by the bridge, the skill Lambda and the setup. Pure. */

export const BRIDGE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function directivesTopic(bridgeId: string): string {
  return `porchlight/${bridgeId}/directives`;
}

export function repliesTopic(bridgeId: string, clientId: string): string {
  return `porchlight/${bridgeId}/replies/${clientId}`;
}

/** A reply topic this bridge may publish to: one level under its replies, no wildcards. */
export function isReplyTopic(bridgeId: string, topic: string): boolean {
  const prefix = `porchlight/${bridgeId}/replies/`;
  if (!topic.startsWith(prefix)) return false;
  const rest = topic.slice(prefix.length);
  return rest.length > 0 && rest.length <= 128 && !/[/+#\u0000]/.test(rest);
}

export function bridgeClientId(bridgeId: string): string {
  return `porchlight-${bridgeId}-bridge`;
}
