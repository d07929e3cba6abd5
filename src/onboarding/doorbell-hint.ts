/**
 * Whether a device looks like a video doorbell, from what it says of itself. A hint only: the
 * user confirms (a doorbell is `kind: doorbell`, announced on Echo with a chime). Pure.
 */

export interface DeviceSelfDescription {
  name?: string;
  manufacturer?: string;
  model?: string;
  hardware?: string;
  /** onvif://www.onvif.org/type/… scopes. */
  types?: string[];
  /** Its ONVIF event topics: a Visitor or doorbell topic is a sign too. */
  topics?: string[];
}

export interface DoorbellHint {
  likely: boolean;
  /** What gave it away, e.g. `model "DB-1 Video Doorbell" says doorbell`. */
  why?: string;
}

const SIGNS: Array<[RegExp, string]> = [
  [/door ?bell/i, 'doorbell'],
  [/intercom|door ?station|door ?phone/i, 'a door station'],
  // DB, DB11, DB-1, VTO2211G, AD410 as a word of their own (not the DB of Sandbox or DBX).
  [/(^|[^a-z0-9])(DB(\d+[a-z0-9]*)?|VTO\d+[a-z0-9]*|AD[14]10)([^a-z0-9]|$)/i, 'a doorbell model'],
  [/^DS-K[BV]/i, 'a Hikvision door station model'],
];

export function doorbellHint(device: DeviceSelfDescription): DoorbellHint {
  const fields: Array<[string, string | undefined]> = [
    ['model', device.model], ['hardware', device.hardware], ['name', device.name], ['manufacturer', device.manufacturer],
    ...(device.types ?? []).map((t): [string, string] => ['type', t]),
  ];
  for (const [field, value] of fields) {
    if (!value) continue;
    const sign = SIGNS.find(([pattern]) => pattern.test(value));
    if (sign) return { likely: true, why: `${field} "${value}" says ${sign[1]}` };
  }
  const topic = device.topics?.find((t) => /door ?bell|visitor/i.test(t));
  if (topic) return { likely: true, why: `it offers the event topic ${topic}` };
  return { likely: false };
}
