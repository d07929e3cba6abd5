/** The pure parts of skill setup: manifest, environment, trigger recognition, URL checks, and the command table. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkBridgeUrl, contains, functionEnvironment, loadManifestTemplate, skillManifest, skillRegion, triggerFor, TRIGGER_STATEMENT_ID,
} from '../../src/skill-setup/skill-plan.ts';
import { parseCommand } from '../../src/cli.ts';

const ARN = 'arn:aws:lambda:us-east-1:123456789012:function:porchlight-skill';

describe('skill plan', () => {
  test('the manifest: the region\'s locales, Send Alexa Events, and an endpoint only once there is a function', () => {
    const template = loadManifestTemplate();
    const withoutEndpoint = skillManifest(template, skillRegion('eu-west-1')!);
    assert.deepEqual(Object.keys(withoutEndpoint.publishingInformation.locales as object), ['en-GB', 'de-DE', 'en-IN']);
    assert.deepEqual(withoutEndpoint.publishingInformation.distributionCountries, ['GB', 'DE', 'IN']);
    assert.equal((withoutEndpoint.publishingInformation.locales as any)['de-DE'].name, 'porchlight');
    assert.deepEqual(withoutEndpoint.apis.smartHome, { protocolVersion: '3' });
    assert.deepEqual(withoutEndpoint.permissions, [{ name: 'alexa::async_event:write' }]);
    const named = skillManifest(template, skillRegion('us-west-2')!, ARN);
    assert.deepEqual(named.apis.smartHome, { protocolVersion: '3', endpoint: { uri: ARN }, regions: { FE: { endpoint: { uri: ARN } } } });
    assert.equal(skillRegion('ap-south-1'), undefined);
    assert.equal(skillRegion('constructor'), undefined);
  });

  test('contains: what SMAPI adds is ignored, what differs is not', () => {
    assert.ok(contains({ a: 1, b: { c: [1, 2], d: 'x' }, added: true }, { a: 1, b: { c: [1, 2] } }));
    assert.ok(!contains({ a: 1, b: { c: [1] } }, { a: 1, b: { c: [1, 2] } }));
    assert.ok(!contains({ a: '1' }, { a: 1 }));
    assert.ok(!contains(undefined, { a: 1 }));
  });

  test('the function\'s environment: the chosen transport replaces the other, the user\'s variables stay', () => {
    const current = { BRIDGE_URL: 'https://old', ALLOW_INSECURE_BRIDGE: '1', MINE: 'kept', PROXY_SECRET: 'old' };
    assert.deepEqual(functionEnvironment(current, { kind: 'relay', variables: { RELAY_URL: 'mqtts://x:8883', RELAY_BRIDGE_ID: 'home' } }, 'new'),
      { MINE: 'kept', RELAY_URL: 'mqtts://x:8883', RELAY_BRIDGE_ID: 'home', PROXY_SECRET: 'new' });
    assert.deepEqual(functionEnvironment({ RELAY_URL: 'mqtts://x', RELAY_KEY: 'k', MINE: 'kept' }, { kind: 'bridge-url', bridgeUrl: 'https://home.example', allowInsecure: false }, 's'),
      { MINE: 'kept', BRIDGE_URL: 'https://home.example', PROXY_SECRET: 's' });
  });

  test('the trigger: Alexa Smart Home for this skill, another skill\'s, or none', () => {
    const statement = (token: string, sid = TRIGGER_STATEMENT_ID) => ({ Sid: sid, Effect: 'Allow', Principal: { Service: 'alexa-connectedhome.amazon.com' }, Action: 'lambda:InvokeFunction', Resource: ARN, Condition: { StringEquals: { 'lambda:EventSourceToken': token } } });
    const policy = (...statements: object[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });
    assert.deepEqual(triggerFor(policy(statement('amzn1.ask.skill.a', 'by-hand')), 'amzn1.ask.skill.a'), { present: true, sid: 'by-hand' });
    assert.deepEqual(triggerFor(policy(statement('amzn1.ask.skill.old')), 'amzn1.ask.skill.a'), { present: false, otherSkill: 'amzn1.ask.skill.old', sid: TRIGGER_STATEMENT_ID });
    assert.deepEqual(triggerFor(undefined, 'amzn1.ask.skill.a'), { present: false });
    const custom = { ...statement('amzn1.ask.skill.a'), Principal: { Service: 'alexa-appkit.amazon.com' } };
    assert.equal(triggerFor(policy(custom), 'amzn1.ask.skill.a').present, false, 'a custom-skill trigger is not a smart-home one');
  });

  test('--bridge-url: https, or http only when told the path is private', () => {
    assert.equal(checkBridgeUrl('https://home.example', false), undefined);
    assert.match(checkBridgeUrl('http://home.example', false)!, /--allow-insecure-bridge/);
    assert.equal(checkBridgeUrl('http://10.0.0.2:8080', true), undefined);
    assert.match(checkBridgeUrl('ftp://x', true)!, /must be https/);
    assert.match(checkBridgeUrl('not a url', false)!, /is not a URL/);
  });
});

describe('the command table', () => {
  test('commands, their options, help and usage errors', () => {
    assert.deepEqual(parseCommand([]), { command: 'serve', values: {}, positionals: [] });
    assert.deepEqual(parseCommand(['--config', 'x.yaml']), { command: 'serve', values: { config: 'x.yaml' }, positionals: [] });
    assert.deepEqual(parseCommand(['skill', 'status', '--json']), { command: 'skill status', values: { json: true }, positionals: [] });
    assert.deepEqual(parseCommand(['relay', 'setup', '--region', 'us-east-1']), { command: 'relay setup', rest: ['--region', 'us-east-1'] });
    assert.deepEqual(parseCommand(['--help']), { help: true });
    assert.deepEqual(parseCommand(['skill', 'setup', '--help']), { help: true, command: 'skill setup' });
    assert.match((parseCommand(['skill']) as { error: string }).error, /did you mean skill setup or skill status or skill remove/);
    assert.match((parseCommand(['skill', 'setup', '--regoin', 'x']) as { error: string }).error, /^skill setup: Unknown option '--regoin'/);
    assert.match((parseCommand(['check-config', 'extra']) as { error: string }).error, /unexpected argument "extra"/);
    assert.match((parseCommand(['frobnicate']) as { error: string }).error, /unknown command "frobnicate"/);
  });
});
