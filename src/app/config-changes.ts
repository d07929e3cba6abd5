import { isDeepStrictEqual } from 'node:util';
import type { Config } from '../config/schema.ts';

/** What a new configuration changes, as the running bridge sees it. Pure. */
export interface ConfigChanges {
  added: string[];
  /** Cameras whose settings differ (their stream, probe and event sources are replaced). */
  changed: string[];
  removed: string[];
  /** Whether the MQTT event source's settings differ. */
  mqtt: boolean;
  /** Settings applied only by a restart (the listeners, WebRTC, Alexa, the relay, dataDir…), dotted. */
  needRestart: string[];
}

/** Applied while running: the cameras and what feeds their events. */
const LIVE_KEYS = new Set(['cameras', 'mqtt', 'source', 'generatedSecrets']);

export function configChanges(previous: Config, next: Config): ConfigChanges {
  const before = new Map(previous.cameras.map((camera) => [camera.id, camera]));
  const after = new Map(next.cameras.map((camera) => [camera.id, camera]));
  const added = [...after.keys()].filter((id) => !before.has(id));
  const removed = [...before.keys()].filter((id) => !after.has(id));
  const changed = [...after.keys()].filter((id) => before.has(id) && !isDeepStrictEqual(before.get(id), after.get(id)));
  const keys = new Set([...Object.keys(previous), ...Object.keys(next)]);
  const needRestart = [...keys]
    .filter((key) => !LIVE_KEYS.has(key))
    .flatMap((key) => differingPaths((previous as unknown as Record<string, unknown>)[key], (next as unknown as Record<string, unknown>)[key], key));
  return { added, changed, removed, mqtt: !isDeepStrictEqual(previous.mqtt, next.mqtt), needRestart };
}

/** The dotted paths where two values differ, one level into objects (`server.port`, `webrtc.udpPorts`). */
function differingPaths(a: unknown, b: unknown, path: string): string[] {
  if (isDeepStrictEqual(a, b)) return [];
  if (isRecord(a) && isRecord(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].filter((key) => !isDeepStrictEqual(a[key], b[key])).map((key) => `${path}.${key}`);
  }
  return [path];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

