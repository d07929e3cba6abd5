/**
 * What an "on/off" message from a home-automation hub means. Pure: no I/O.
 *
 * Hubs disagree on how to say it: Home Assistant and Zigbee2MQTT send ON/OFF, Node-RED flows
 * send true/false or 1/0, Frigate sends ON/OFF, some doorbells send `pressed`, and JSON bodies
 * carry it in `state`, `value` or `detected`.
 */

export type Signal = { ok: true; on: boolean } | { ok: false; reason: string };

const ON = new Set(['on', 'true', '1', 'pressed', 'press', 'detected', 'motion', 'open', 'yes']);
const OFF = new Set(['off', 'false', '0', 'released', 'release', 'not_detected', 'clear', 'closed', 'no', 'idle']);
const JSON_KEYS = ['state', 'value', 'detected'] as const;
/** Anything longer is not an on/off message; say so without echoing it. */
const MAX_PAYLOAD = 4096;

function fromScalar(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value === 1 ? true : value === 0 ? false : undefined;
  if (typeof value !== 'string') return undefined;
  const word = value.trim().toLowerCase();
  if (ON.has(word)) return true;
  if (OFF.has(word)) return false;
  return undefined;
}

/** Reads an MQTT payload as on (true) or off (false); unreadable payloads get a reason. */
export function parseSignal(payload: Buffer | string): Signal {
  if (payload.length > MAX_PAYLOAD) return { ok: false, reason: `payload of ${payload.length} bytes is too long for an on/off message` };
  const text = (typeof payload === 'string' ? payload : payload.toString('utf8')).trim();
  if (text === '') return { ok: false, reason: 'empty payload' };
  const scalar = fromScalar(text);
  if (scalar !== undefined) return { ok: true, on: scalar };
  if (text.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { ok: false, reason: 'payload looks like JSON but does not parse' };
    }
    if (parsed && typeof parsed === 'object') {
      // Keys are matched case-insensitively: {"State":"ON"} is as common as {"state":"ON"}.
      const entries = new Map(Object.entries(parsed).map(([key, value]) => [key.toLowerCase(), value]));
      for (const key of JSON_KEYS) {
        if (!entries.has(key)) continue;
        const value = fromScalar(entries.get(key));
        if (value !== undefined) return { ok: true, on: value };
        return { ok: false, reason: `JSON "${key}" is not an on/off value` };
      }
    }
    return { ok: false, reason: 'JSON payload has no "state", "value" or "detected"' };
  }
  return { ok: false, reason: 'payload is not ON/OFF, true/false, 1/0, pressed or JSON' };
}
