/**
 * Reading untrusted JSON (Alexa's directives, the bridge's replies) without trusting its shape:
 * a missing or mistyped field reads as undefined instead of throwing.
 */

/** `value[key]` when `value` is a plain JSON object, else undefined. */
export function field(value: unknown, key: string): unknown {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
}

/** A non-empty string cut to 128 characters (safe to put in a log line), else undefined. */
export function short(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value.slice(0, 128) : undefined;
}
