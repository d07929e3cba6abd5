/**
 * Which ONVIF notifications are doorbell presses or motion, and what they say. Pure: no I/O.
 * ONVIF Event service: a NotificationMessage carries a Topic and a tt:Message whose Data holds
 * SimpleItems; property events (motion, inputs) say PropertyOperation Initialized, Changed or
 * Deleted.
 */

export type CameraEventKind = 'doorbell' | 'motion';

export interface OnvifNotification {
  /** As the camera wrote it, e.g. `tns1:RuleEngine/CellMotionDetector/Motion`. */
  topic: string;
  /** Initialized | Changed | Deleted, when the camera says. */
  operation?: string;
  data: Record<string, string>;
}

export interface TopicRule {
  kind: CameraEventKind;
  topic: string;
  /** The Data item that holds the state; undefined: the first item that reads as true/false. */
  item?: string;
}

export interface TopicOverrides {
  doorbellTopic?: string;
  motionTopic?: string;
}

export interface MatchedEvent {
  kind: CameraEventKind;
  on: boolean;
  /** The camera reporting its current state at subscription, not a change. */
  initialized: boolean;
}

export const DEFAULT_RULES: readonly TopicRule[] = [
  { kind: 'motion', topic: 'tns1:RuleEngine/CellMotionDetector/Motion', item: 'IsMotion' },
  { kind: 'motion', topic: 'tns1:VideoSource/MotionAlarm', item: 'State' },
  { kind: 'motion', topic: 'tns1:RuleEngine/MotionRegionDetector/Motion', item: 'State' },
  { kind: 'doorbell', topic: 'tns1:RuleEngine/MyRuleDetector/Visitor', item: 'State' },
  { kind: 'doorbell', topic: 'tns1:Device/Trigger/DigitalInput', item: 'LogicalState' },
];

/**
 * `tns1:RuleEngine/CellMotionDetector/Motion` and `tt:ruleengine/cellmotiondetector/motion//.`
 * name the same topic: vendors differ in namespace prefixes, case and trailing `//.`.
 */
export function normalizeTopic(topic: string): string {
  return topic
    .split('/')
    .map((segment) => segment.replace(/^[A-Za-z0-9_.-]*:/, '').trim().toLowerCase())
    .filter((segment) => segment !== '' && segment !== '.')
    .join('/');
}

/** The default rules, with a configured topic replacing the defaults of its kind. */
export function topicRules(overrides: TopicOverrides = {}): TopicRule[] {
  const rules = DEFAULT_RULES.filter((rule) => !(rule.kind === 'doorbell' ? overrides.doorbellTopic : overrides.motionTopic));
  if (overrides.doorbellTopic) rules.push({ kind: 'doorbell', topic: overrides.doorbellTopic });
  if (overrides.motionTopic) rules.push({ kind: 'motion', topic: overrides.motionTopic });
  return rules;
}

function truth(value: string | undefined): boolean | undefined {
  const word = value?.trim().toLowerCase();
  if (word === 'true' || word === '1' || word === 'on' || word === 'active') return true;
  if (word === 'false' || word === '0' || word === 'off' || word === 'inactive') return false;
  return undefined;
}

/** A notification as a press or motion change; undefined when no rule names its topic or it carries no state. */
export function matchNotification(notification: OnvifNotification, rules: readonly TopicRule[]): MatchedEvent | undefined {
  const topic = normalizeTopic(notification.topic);
  const rule = rules.find((candidate) => normalizeTopic(candidate.topic) === topic);
  if (!rule) return undefined;
  let on: boolean | undefined;
  if (rule.item) {
    const key = Object.keys(notification.data).find((name) => name.toLowerCase() === rule.item!.toLowerCase());
    on = truth(key === undefined ? undefined : notification.data[key]);
  } else {
    on = Object.values(notification.data).map(truth).find((value) => value !== undefined);
  }
  if (on === undefined) return undefined;
  return { kind: rule.kind, on, initialized: notification.operation?.toLowerCase() === 'initialized' };
}

/**
 * The `onvif` package's parsed NotificationMessage (prefixes stripped, attributes under `$`,
 * repeated elements as arrays) as an OnvifNotification; undefined when it has no topic.
 */
export function fromParsedNotification(raw: unknown): OnvifNotification | undefined {
  const message = raw as { topic?: unknown; message?: { message?: unknown } } | undefined;
  const topicNode = message?.topic;
  const topic = typeof topicNode === 'string' ? topicNode : typeof (topicNode as { _?: unknown })?._ === 'string' ? (topicNode as { _: string })._ : undefined;
  if (!topic) return undefined;
  const body = message?.message?.message as { $?: Record<string, unknown>; data?: { simpleItem?: unknown } } | undefined;
  const data: Record<string, string> = {};
  const items = body?.data?.simpleItem;
  for (const item of Array.isArray(items) ? items : items === undefined ? [] : [items]) {
    const attributes = (item as { $?: { Name?: unknown; Value?: unknown } })?.$;
    if (attributes && typeof attributes.Name === 'string' && attributes.Value !== undefined) data[attributes.Name] = String(attributes.Value);
  }
  const operation = body?.$?.PropertyOperation;
  return { topic, data, ...(typeof operation === 'string' && { operation }) };
}

/**
 * Topic names from GetEventProperties' TopicSet (as the `onvif` package parses it), for the log.
 * The package lower-cases the first letter of element names; ONVIF topics are UpperCamel, so
 * it is put back to show what a user would write in `doorbellTopic`.
 */
export function topicSetNames(topicSet: unknown, prefix = 'tns1:'): string[] {
  const names: string[] = [];
  const walk = (node: unknown, path: string[], depth: number) => {
    if (!node || typeof node !== 'object' || depth > 8 || names.length >= 200) return;
    for (const [key, child] of Object.entries(node)) {
      if (key === '$' || key === '_' || key === 'messageDescription' || key === 'MessageDescription') continue;
      const here = [...path, key.charAt(0).toUpperCase() + key.slice(1)];
      const attributes = (child as { $?: Record<string, unknown> } | undefined)?.$;
      const isTopic = attributes && Object.entries(attributes).some(([name, value]) => /(^|:)topic$/i.test(name) && String(value) === 'true');
      if (isTopic) names.push(`${prefix}${here.join('/')}`);
      walk(child, here, depth + 1);
    }
  };
  walk(topicSet, [], 0);
  return names;
}
