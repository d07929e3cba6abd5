import { test } from 'node:test';
import assert from 'node:assert/strict';
import { doorbellHint } from '../../src/onboarding/doorbell-hint.ts';
import { mapEventTopics } from '../../src/onboarding/event-topics.ts';

test('mapEventTopics: a default rule, an override to configure, or nothing — for presses and motion', () => {
  const cases: Array<{ offered: string[]; doorbell: [string, string?]; motion: [string, string?] }> = [
    { offered: ['tns1:RuleEngine/CellMotionDetector/Motion', 'tns1:RuleEngine/MyRuleDetector/Visitor'], doorbell: ['default', 'tns1:RuleEngine/MyRuleDetector/Visitor'], motion: ['default', 'tns1:RuleEngine/CellMotionDetector/Motion'] },
    // Another prefix and case name the same topic as a default rule.
    { offered: ['tt:VideoSource/MotionAlarm', 'tns1:Device/Trigger/DigitalInput'], doorbell: ['default', 'tns1:Device/Trigger/DigitalInput'], motion: ['default', 'tt:VideoSource/MotionAlarm'] },
    // Vendor topics: they need onvif.doorbellTopic / motionTopic.
    { offered: ['tns1:RuleEngine/FieldDetector/ObjectsInside', 'tnsaxis:Device/IO/VirtualInput', 'tns1:Doorbell/Ring'], doorbell: ['override', 'tns1:Doorbell/Ring'], motion: ['override', 'tns1:RuleEngine/FieldDetector/ObjectsInside'] },
    { offered: ['tns1:RuleEngine/PeopleDetector/People', 'tns1:Device/IO/CallButton'], doorbell: ['override', 'tns1:Device/IO/CallButton'], motion: ['override', 'tns1:RuleEngine/PeopleDetector/People'] },
    // The default rule wins over a look-alike.
    { offered: ['tns1:RuleEngine/MotionRegionDetector/Motion', 'tns1:RuleEngine/Vendor/SmartMotion'], doorbell: ['none'], motion: ['default', 'tns1:RuleEngine/MotionRegionDetector/Motion'] },
    { offered: ['tns1:Monitoring/ProcessorUsage', 'tns1:RuleEngine/TamperDetector/Tamper'], doorbell: ['none'], motion: ['none'] },
    { offered: [], doorbell: ['none'], motion: ['none'] },
  ];
  for (const c of cases) {
    const mapped = mapEventTopics(c.offered);
    for (const kind of ['doorbell', 'motion'] as const) {
      const [via, topic] = c[kind];
      assert.equal(mapped[kind].via, via, `${kind} of ${c.offered.join(', ')}`);
      assert.equal(mapped[kind].topic, topic, `${kind} of ${c.offered.join(', ')}`);
      if (via === 'override') assert.deepEqual(mapped[kind].override, { [`${kind}Topic`]: topic });
    }
  }
  assert.match(mapEventTopics(['tns1:Doorbell/Ring']).doorbell.reason, /set onvif\.doorbellTopic: tns1:Doorbell\/Ring/);
  assert.match(mapEventTopics([]).motion.reason, /lists no event topics/);
});

test('doorbellHint: a doorbell says so in its model, name, type or topics; a camera does not', () => {
  const cases: Array<[Parameters<typeof doorbellHint>[0], boolean, RegExp?]> = [
    [{ manufacturer: 'Reolink', model: 'Reolink Video Doorbell PoE' }, true, /model "Reolink Video Doorbell PoE" says doorbell/],
    [{ model: 'DB11' }, true, /doorbell model/],
    [{ hardware: 'DB-1' }, true, /hardware "DB-1"/],
    [{ model: 'VTO2211G-WP' }, true, /doorbell model/],
    [{ model: 'AD410' }, true, /doorbell model/],
    [{ model: 'DS-KB6003-WIP' }, true, /Hikvision door station/],
    [{ name: 'Front Door Bell' }, true, /name "Front Door Bell"/],
    [{ types: ['video_encoder', 'Doorbell'] }, true, /type "Doorbell"/],
    [{ model: 'Door Station' }, true, /door station/],
    [{ model: 'IPC', topics: ['tns1:RuleEngine/MyRuleDetector/Visitor'] }, true, /event topic .*Visitor/],
    [{ manufacturer: 'Hikvision', model: 'DS-2CD2043G2-I' }, false],
    [{ model: 'RLC-510A', name: 'Garden' }, false],
    // "DB" inside a word is not a doorbell.
    [{ model: 'DBX-camera', name: 'Sandbox' }, false],
    [{}, false],
  ];
  for (const [device, likely, why] of cases) {
    const hint = doorbellHint(device);
    assert.equal(hint.likely, likely, JSON.stringify(device));
    if (why) assert.match(hint.why ?? '', why, JSON.stringify(device));
  }
});
