import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromParsedNotification, matchNotification, normalizeTopic, topicRules, topicSetNames } from '../../src/events/onvif-topics.ts';
import { classifyOnvifError, OnvifError } from '../../src/events/onvif-errors.ts';

const defaults = topicRules();

test('the default topics: motion from three vendors\' topics, presses from Visitor and DigitalInput', () => {
  const cases: Array<[string, Record<string, string>, { kind: string; on: boolean } | undefined]> = [
    ['tns1:RuleEngine/CellMotionDetector/Motion', { IsMotion: 'true' }, { kind: 'motion', on: true }],
    ['tns1:RuleEngine/CellMotionDetector/Motion', { IsMotion: 'false' }, { kind: 'motion', on: false }],
    ['tns1:VideoSource/MotionAlarm', { State: 'true' }, { kind: 'motion', on: true }],
    ['tns1:RuleEngine/MotionRegionDetector/Motion', { State: 'false' }, { kind: 'motion', on: false }],
    ['tns1:RuleEngine/MyRuleDetector/Visitor', { State: 'true' }, { kind: 'doorbell', on: true }],
    ['tns1:Device/Trigger/DigitalInput', { InputToken: 'DI_0', LogicalState: 'true' }, { kind: 'doorbell', on: true }],
    // Other prefixes, case and a trailing "//." name the same topic.
    ['tt:ruleengine/cellmotiondetector/motion//.', { IsMotion: 'true' }, { kind: 'motion', on: true }],
    // A topic porchlight does not use, and a known topic without its state item.
    ['tns1:RuleEngine/TamperDetector/Tamper', { IsTamper: 'true' }, undefined],
    ['tns1:RuleEngine/CellMotionDetector/Motion', { Other: 'true' }, undefined],
  ];
  for (const [topic, data, expected] of cases) {
    const matched = matchNotification({ topic, data, operation: 'Changed' }, defaults);
    assert.deepEqual(matched && { kind: matched.kind, on: matched.on }, expected, `${topic} ${JSON.stringify(data)}`);
  }
});

test('a configured topic replaces that kind\'s defaults and reads the first true/false item', () => {
  const rules = topicRules({ doorbellTopic: 'tnsaxis:Device/IO/VirtualInput' });
  assert.deepEqual(matchNotification({ topic: 'tnsaxis:Device/IO/VirtualInput', data: { port: '3', active: '1' } }, rules)?.on, true);
  assert.equal(matchNotification({ topic: 'tns1:RuleEngine/MyRuleDetector/Visitor', data: { State: 'true' } }, rules), undefined);
  // Motion defaults stay.
  assert.equal(matchNotification({ topic: 'tns1:VideoSource/MotionAlarm', data: { State: 'true' } }, rules)?.kind, 'motion');
});

test('Initialized (the state at subscription) is told apart from a change', () => {
  const matched = matchNotification({ topic: 'tns1:RuleEngine/MyRuleDetector/Visitor', data: { State: 'true' }, operation: 'Initialized' }, defaults);
  assert.equal(matched?.initialized, true);
});

test('normalizeTopic', () => {
  assert.equal(normalizeTopic('tns1:RuleEngine/CellMotionDetector/Motion'), 'ruleengine/cellmotiondetector/motion');
  assert.equal(normalizeTopic('RuleEngine/CellMotionDetector/Motion'), 'ruleengine/cellmotiondetector/motion');
});

test('the onvif package\'s parsed NotificationMessage, single and repeated items', () => {
  const raw = {
    topic: { _: 'tns1:RuleEngine/CellMotionDetector/Motion', $: { Dialect: 'http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet' } },
    message: { message: { $: { UtcTime: '2026-12-03T08:00:00Z', PropertyOperation: 'Changed' }, source: { simpleItem: { $: { Name: 'Rule', Value: 'Motion' } } }, data: { simpleItem: { $: { Name: 'IsMotion', Value: true } } } } },
  };
  assert.deepEqual(fromParsedNotification(raw), { topic: 'tns1:RuleEngine/CellMotionDetector/Motion', data: { IsMotion: 'true' }, operation: 'Changed' });
  const repeated = { topic: { _: 'tns1:Device/Trigger/DigitalInput' }, message: { message: { data: { simpleItem: [{ $: { Name: 'InputToken', Value: 'DI_0' } }, { $: { Name: 'LogicalState', Value: 'false' } }] } } } };
  assert.deepEqual(fromParsedNotification(repeated)?.data, { InputToken: 'DI_0', LogicalState: 'false' });
  assert.equal(fromParsedNotification({ message: {} }), undefined);
  assert.equal(fromParsedNotification(undefined), undefined);
});

test('topic names from a TopicSet, UpperCamel as users write them', () => {
  const topicSet = {
    ruleEngine: {
      cellMotionDetector: { motion: { $: { 'wstop:topic': 'true' }, messageDescription: { data: {} } } },
      myRuleDetector: { visitor: { $: { 'wstop:topic': 'true' } } },
    },
    device: { trigger: { digitalInput: { $: { 'wstop:topic': 'true' } } } },
  };
  assert.deepEqual(topicSetNames(topicSet).sort(), [
    'tns1:Device/Trigger/DigitalInput',
    'tns1:RuleEngine/CellMotionDetector/Motion',
    'tns1:RuleEngine/MyRuleDetector/Visitor',
  ]);
});

test('ONVIF failures as reasons a person can act on, never with the password', () => {
  const cases: Array<[unknown, string, RegExp]> = [
    [Object.assign(new Error('ONVIF SOAP Fault: Sender not Authorized'), { xml: '<env:Subcode><env:Value>ter:NotAuthorized</env:Value>' }), 'CREDENTIALS', /ONVIF refused the credentials/],
    [new Error('Digest authentication failed 401'), 'CREDENTIALS', /refused the credentials/],
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:80'), { code: 'ECONNREFUSED' }), 'UNREACHABLE', /does not answer \(ECONNREFUSED\)/],
    [new Error('Network timeout'), 'TIMEOUT', /did not answer in time/],
    [Object.assign(new Error('ONVIF SOAP Fault: unknown'), { xml: '<Subcode>wsrf-rw:ResourceUnknownFault</Subcode>' }), 'SUBSCRIPTION_LOST', /forgot the event subscription/],
    [new Error('ONVIF SOAP Fault: ter:ActionNotSupported'), 'NO_EVENT_SERVICE', /does not support/],
    [new Error('Wrong ONVIF SOAP response'), 'BAD_RESPONSE', /not ONVIF SOAP/],
    [new Error('ONVIF SOAP Fault: boom at rtsp://admin:hunter2@cam/'), 'FAULT', /SOAP fault: boom/],
    [new OnvifError('NO_EVENT_SERVICE', 'the camera has no ONVIF event service'), 'NO_EVENT_SERVICE', /no ONVIF event service/],
  ];
  for (const [err, code, reason] of cases) {
    const failure = classifyOnvifError(err);
    assert.equal(failure.code, code, String((err as Error).message));
    assert.match(failure.reason, reason);
    assert.ok(!failure.reason.includes('hunter2'));
  }
});
