/**
 * What a camera's ONVIF event topics (GetEventProperties) mean for porchlight: a doorbell press
 * and motion, each heard through the default rules (events/onvif-topics.ts), through a topic the
 * user would set in the configuration, or not at all. Pure.
 */
import { DEFAULT_RULES, normalizeTopic, type CameraEventKind, type TopicOverrides } from '../events/onvif-topics.ts';

export interface TopicMapping {
  kind: CameraEventKind;
  /** default: a default rule names a topic it offers; override: a topic that looks like one needs `onvif.<kind>Topic`; none. */
  via: 'default' | 'override' | 'none';
  /** The topic as the camera offers it. */
  topic?: string;
  /** For `override`: what to put under the camera's `onvif:` in the configuration. */
  override?: TopicOverrides;
  reason: string;
}

export interface EventTopicMappings {
  doorbell: TopicMapping;
  motion: TopicMapping;
}

/** Topics that look like a press or like motion, most telling first. */
const LOOKS_LIKE: Record<CameraEventKind, RegExp[]> = {
  doorbell: [/door ?bell|visitor/i, /\b(call|ring|press)/i, /button|digitalinput|io\/?input|alarmin/i],
  motion: [/motion/i, /person|people|human|face|vehicle/i, /objectsinside|fielddetector|linedetector|intrusion|linecross/i],
};

const OVERRIDE_KEY: Record<CameraEventKind, keyof TopicOverrides> = { doorbell: 'doorbellTopic', motion: 'motionTopic' };

function mapKind(kind: CameraEventKind, offered: readonly string[]): TopicMapping {
  for (const rule of DEFAULT_RULES.filter((r) => r.kind === kind)) {
    const topic = offered.find((t) => normalizeTopic(t) === normalizeTopic(rule.topic));
    if (topic) return { kind, via: 'default', topic, reason: `${topic} is one of porchlight's default ${kind} topics: nothing to configure` };
  }
  const defaults = new Set(DEFAULT_RULES.map((r) => normalizeTopic(r.topic)));
  const others = offered.filter((t) => !defaults.has(normalizeTopic(t)));
  for (const pattern of LOOKS_LIKE[kind]) {
    const topic = others.find((t) => pattern.test(t));
    if (topic) {
      return {
        kind, via: 'override', topic, override: { [OVERRIDE_KEY[kind]]: topic },
        reason: `${topic} looks like a ${kind === 'doorbell' ? 'press' : 'motion'} topic but no default rule names it: set onvif.${OVERRIDE_KEY[kind]}: ${topic}`,
      };
    }
  }
  return { kind, via: 'none', reason: offered.length === 0 ? 'the camera lists no event topics' : `none of the ${offered.length} topics it offers reads as ${kind === 'doorbell' ? 'a press' : 'motion'}` };
}

export function mapEventTopics(offered: readonly string[]): EventTopicMappings {
  return { doorbell: mapKind('doorbell', offered), motion: mapKind('motion', offered) };
}
