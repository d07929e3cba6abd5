/**
 * WS-Discovery: the reading of answers (pure), and the real multicast path — the bridge and two
 * fake ONVIF devices (test/fixtures/fake-onvif-discovery.ts) in network namespaces of their own,
 * each device behind its own interface of the bridge's namespace, so a Probe reaches both only
 * when it leaves from every interface. Needs root and iproute2; nothing outside the namespaces
 * (created here, deleted in after()) is touched.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  deviceFromMatch, discoveryAddresses, hostOf, isConfigured, parseProbeMatches, scopeFacts, type DiscoveryResult,
} from '../../src/onboarding/discovery.ts';
import type { HeardProbe } from '../fixtures/fake-onvif-discovery.ts';
import { MAIN as PORCHLIGHT_MAIN, runPorchlight } from '../helpers/run-porchlight.ts';

const RESPONDER = fileURLToPath(new URL('../fixtures/fake-onvif-discovery.ts', import.meta.url));
const RUNNER = fileURLToPath(new URL('./discover-runner.ts', import.meta.url));
const MAIN = PORCHLIGHT_MAIN;

const ENVELOPE = (body: string) => '<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" ' +
  'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" ' +
  'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><SOAP-ENV:Header><wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action></SOAP-ENV:Header>' +
  `<SOAP-ENV:Body>${body}</SOAP-ENV:Body></SOAP-ENV:Envelope>`;
const MATCH = (epr: string, xaddrs: string, scopes: string, scopesAttrs = '') => '<d:ProbeMatch>' +
  `<wsa:EndpointReference><wsa:Address>${epr}</wsa:Address></wsa:EndpointReference><d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>` +
  `<d:Scopes${scopesAttrs}>${scopes}</d:Scopes><d:XAddrs>${xaddrs}</d:XAddrs><d:MetadataVersion>10</d:MetadataVersion></d:ProbeMatch>`;

describe('reading WS-Discovery answers', () => {
  test('ProbeMatches: endpoint reference, types, scopes, XAddrs — one match, several, scopes with MatchBy', async () => {
    const hik = ENVELOPE(`<d:ProbeMatches>${MATCH('urn:uuid:54414e44-0000-1000-8000-bcbac2f1e2a3', 'http://192.168.1.64/onvif/device_service http://[fe80::1]/onvif/device_service',
      'onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/Profile/Streaming onvif://www.onvif.org/hardware/DS-2CD2043G2-I onvif://www.onvif.org/name/HIKVISION%20DS-2CD2043G2-I onvif://www.onvif.org/location/city/hangzhou')}</d:ProbeMatches>`);
    assert.deepEqual(await parseProbeMatches(hik), [{
      endpointReference: 'urn:uuid:54414e44-0000-1000-8000-bcbac2f1e2a3',
      types: ['dn:NetworkVideoTransmitter', 'tds:Device'],
      scopes: ['onvif://www.onvif.org/type/video_encoder', 'onvif://www.onvif.org/Profile/Streaming', 'onvif://www.onvif.org/hardware/DS-2CD2043G2-I',
        'onvif://www.onvif.org/name/HIKVISION%20DS-2CD2043G2-I', 'onvif://www.onvif.org/location/city/hangzhou'],
      xaddrs: ['http://192.168.1.64/onvif/device_service', 'http://[fe80::1]/onvif/device_service'],
    }]);
    const two = ENVELOPE(`<d:ProbeMatches>${MATCH('urn:uuid:a', 'http://10.0.0.2/onvif/device_service', 'onvif://www.onvif.org/name/A', ' MatchBy="http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc3986"')}` +
      `${MATCH('urn:uuid:b', 'http://10.0.0.3/onvif/device_service', 'onvif://www.onvif.org/name/B')}</d:ProbeMatches>`);
    const matches = await parseProbeMatches(two);
    assert.deepEqual(matches.map((m) => [m.endpointReference, m.scopes]), [['urn:uuid:a', ['onvif://www.onvif.org/name/A']], ['urn:uuid:b', ['onvif://www.onvif.org/name/B']]]);
  });

  test('anything else is no answer: a Hello, a fault, not XML, an empty match', async () => {
    const cases = [
      ENVELOPE('<d:Hello><wsa:EndpointReference><wsa:Address>urn:uuid:x</wsa:Address></wsa:EndpointReference></d:Hello>'),
      ENVELOPE('<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Sender</SOAP-ENV:Value></SOAP-ENV:Code></SOAP-ENV:Fault>'),
      'this is not XML <',
      '<a><b></a>',
      ENVELOPE('<d:ProbeMatches><d:ProbeMatch><d:Types>dn:NetworkVideoTransmitter</d:Types></d:ProbeMatch></d:ProbeMatches>'),
      ENVELOPE('<d:ProbeMatches/>'),
      '',
    ];
    for (const xml of cases) assert.deepEqual(await parseProbeMatches(xml), [], xml.slice(0, 80));
  });

  test('scopes: name, hardware, types; the manufacturer from its scope or a brand the name or hardware shows', () => {
    assert.deepEqual(scopeFacts(['onvif://www.onvif.org/name/Front%20door', 'onvif://www.onvif.org/hardware/DB-1', 'onvif://www.onvif.org/type/video_encoder',
      'onvif://www.onvif.org/type/Network_Video_Transmitter', 'onvif://www.onvif.org/location/country/nl', 'http://example.com/x']), {
      name: 'Front door', hardware: 'DB-1', types: ['video_encoder', 'Network_Video_Transmitter'],
    });
    assert.equal(scopeFacts(['onvif://www.onvif.org/name/HIKVISION%20DS-2CD2043G2-I']).manufacturer, 'Hikvision');
    assert.equal(scopeFacts(['onvif://www.onvif.org/hardware/RLC-510A']).manufacturer, 'Reolink');
    assert.equal(scopeFacts(['onvif://www.onvif.org/manufacturer/Acme', 'onvif://www.onvif.org/name/Dahua']).manufacturer, 'Acme');
    // A camera's text goes to a terminal: no escapes, no broken percent-encoding.
    assert.equal(scopeFacts(['onvif://www.onvif.org/name/%1B%5B31mRed%0Aline']).name, 'Red line');
    assert.equal(scopeFacts(['onvif://www.onvif.org/name/100%']).name, '100%');
  });

  test('configured: a device at the host of a configured camera\'s RTSP or ONVIF URL', () => {
    assert.equal(hostOf('rtsp://admin:x@10.0.0.2:554/stream'), '10.0.0.2');
    assert.equal(hostOf('10.0.0.2:8000'), '10.0.0.2');
    assert.equal(hostOf('[fe80::1]:80'), 'fe80::1');
    assert.equal(hostOf('fe80::1'), 'fe80::1');
    assert.equal(hostOf('Camera.LAN'), 'camera.lan');
    const device = { host: '10.0.0.2', xaddrs: ['http://10.0.0.2:8000/onvif/device_service', 'http://192.168.7.2/onvif/device_service'] };
    assert.equal(isConfigured(device, ['rtsp://10.0.0.9/s', 'http://10.0.0.2/onvif/device_service']), true);
    assert.equal(isConfigured(device, ['192.168.7.2']), true);
    assert.equal(isConfigured(device, ['10.0.0.20', 'rtsp://10.0.0.9/s', 'not a url ::']), false);
    const found = deviceFromMatch({ endpointReference: 'urn:uuid:a', types: [], scopes: ['onvif://www.onvif.org/hardware/DS-2CD2043G2-I'], xaddrs: ['http://192.168.7.2/onvif/device_service', 'http://10.0.0.2/onvif/device_service'] }, '10.0.0.2', '10.0.0.1', ['10.0.0.2']);
    // The XAddr on the address the answer came from, not the first listed.
    assert.equal(found.address, 'http://10.0.0.2/onvif/device_service');
    assert.deepEqual([found.manufacturer, found.model, found.configured, found.via], ['Hikvision', 'DS-2CD2043G2-I', true, '10.0.0.1']);
  });

  test('discoveryAddresses: the interfaces the bridge advertises on, or the configured host addresses it has', () => {
    const nic = (address: string, internal = false) => ({ address, netmask: '255.255.255.0', family: 'IPv4' as const, mac: '00:00:00:00:00:00', internal, cidr: `${address}/24` });
    const v6 = { address: 'fe80::1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6' as const, mac: '00:00:00:00:00:00', internal: false, cidr: 'fe80::1/64', scopeid: 2 };
    const interfaces = {
      lo: [nic('127.0.0.1', true)], eth0: [nic('192.168.1.10'), v6], wlan0: [nic('10.0.0.10')], docker0: [nic('172.17.0.1')], 'br-0123abcd': [nic('172.18.0.1')],
      veth12ab: [nic('172.19.0.5')], tun0: [nic('10.8.0.2')], eth1: [nic('169.254.3.4')],
    };
    assert.deepEqual(discoveryAddresses(undefined, interfaces), ['192.168.1.10', '10.0.0.10']);
    assert.deepEqual(discoveryAddresses(['10.0.0.10'], interfaces), ['10.0.0.10']);
    // Docker bridge networking: the host's address is configured but not ours.
    assert.deepEqual(discoveryAddresses(['192.168.1.99'], interfaces), []);
  });
});

// ---- the real multicast path, in network namespaces

const isRoot = process.getuid?.() === 0;
let hasIp = false;
try {
  execFileSync('ip', ['-V'], { stdio: 'ignore' });
  hasIp = true;
} catch {
  hasIp = false;
}
const prefix = `pl${process.pid % 100000}`;
const BRIDGE = `${prefix}-bridge`;
const LANS = [
  { ns: `${prefix}-cam1`, bridgeIf: `${prefix}b1`, deviceIf: `${prefix}c1`, bridgeAddress: '10.201.0.1', deviceAddress: '10.201.0.2' },
  { ns: `${prefix}-cam2`, bridgeIf: `${prefix}b2`, deviceIf: `${prefix}c2`, bridgeAddress: '10.201.1.1', deviceAddress: '10.201.1.2' },
];

interface Responder {
  child: ChildProcessWithoutNullStreams;
  probes: HeardProbe[];
  exited: Promise<void>;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

function createNamespaces(): void {
  ip('netns', 'add', BRIDGE);
  ip('-n', BRIDGE, 'link', 'set', 'lo', 'up');
  LANS.forEach((lan, i) => {
    ip('netns', 'add', lan.ns);
    ip('-n', lan.ns, 'link', 'set', 'lo', 'up');
    ip('link', 'add', lan.bridgeIf, 'netns', BRIDGE, 'type', 'veth', 'peer', 'name', lan.deviceIf, 'netns', lan.ns);
    ip('-n', BRIDGE, 'addr', 'add', `${lan.bridgeAddress}/24`, 'dev', lan.bridgeIf);
    ip('-n', lan.ns, 'addr', 'add', `${lan.deviceAddress}/24`, 'dev', lan.deviceIf);
    ip('-n', BRIDGE, 'link', 'set', lan.bridgeIf, 'up');
    ip('-n', lan.ns, 'link', 'set', lan.deviceIf, 'up');
    ip('-n', lan.ns, 'route', 'add', '224.0.0.0/4', 'dev', lan.deviceIf);
    // One multicast route on the bridge's side, as a host has: the Probe on the other interface
    // gets there only because the socket names its interface.
    if (i === 0) ip('-n', BRIDGE, 'route', 'add', '224.0.0.0/4', 'dev', lan.bridgeIf);
  });
}

function deleteNamespaces(): void {
  for (const ns of [BRIDGE, ...LANS.map((l) => l.ns)]) {
    try {
      ip('netns', 'del', ns); // its veth ends go with it
    } catch {
      // never created
    }
  }
}

/** A responder inside a device's namespace; resolves once it listens. */
function startResponder(ns: string, options: object): Promise<Responder> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, RESPONDER, JSON.stringify(options)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const probes: HeardProbe[] = [];
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`responder in ${ns} not ready: ${stderr}`)), 10_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      buffer += d;
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (line.startsWith('READY')) {
          clearTimeout(timer);
          resolve({ child, probes, exited });
        } else if (line.startsWith('PROBE ')) {
          probes.push(JSON.parse(line.slice(6)) as HeardProbe);
        }
      }
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`responder in ${ns} exited (${code}): ${stderr}`));
    });
  });
}

/** Runs porchlight inside the bridge's namespace; its stdout, stderr and exit code. */
function inBridge(args: string[], timeoutMs = 20_000) {
  return runPorchlight(args, { command: ['ip', 'netns', 'exec', BRIDGE, process.execPath], timeoutMs });
}

describe('discovery over real multicast, in network namespaces', { skip: !isRoot || !hasIp ? 'needs root and iproute2 (ip netns)' : false }, () => {
  const responders: Responder[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'porchlight-discovery-'));
  const config = join(dir, 'porchlight.yaml');

  before(async () => {
    deleteNamespaces(); // left over from a run of this pid that died
    createNamespaces();
    writeFileSync(config, `cameras:\n  - id: front\n    name: Front door\n    kind: doorbell\n    url: rtsp://10.201.0.2/h264Preview_01_main\n`);
    responders.push(await startResponder(LANS[0]!.ns, {
      address: LANS[0]!.deviceAddress,
      // Stray datagrams first: not XML, then a Hello. They must be ignored, not end anything.
      noise: true,
      devices: [{ endpointReference: 'urn:uuid:00000000-0000-4000-8000-00000000d001', xaddrs: ['http://10.201.0.2/onvif/device_service'],
        scopes: ['onvif://www.onvif.org/name/Front%20door', 'onvif://www.onvif.org/hardware/DB-1', 'onvif://www.onvif.org/type/video_encoder'] }],
    }));
    responders.push(await startResponder(LANS[1]!.ns, {
      address: LANS[1]!.deviceAddress,
      devices: [{ endpointReference: 'urn:uuid:00000000-0000-4000-8000-00000000d002', xaddrs: ['http://10.201.1.2:8000/onvif/device_service'],
        scopes: ['onvif://www.onvif.org/name/Garden', 'onvif://www.onvif.org/hardware/RLC-510A', 'onvif://www.onvif.org/type/Network_Video_Transmitter'] }],
    }));
  });

  after(async () => {
    for (const r of responders) r.child.stdin.end(); // the responder exits when its stdin closes
    await Promise.all(responders.map((r) => Promise.race([r.exited, new Promise<void>((resolve) => setTimeout(() => {
      r.child.kill('SIGKILL');
      resolve();
    }, 3000).unref())])));
    deleteNamespaces();
    rmSync(dir, { recursive: true, force: true });
  });

  test('`porchlight cameras discover --json` finds both devices, each through its own interface, the configured one marked', async () => {
    const run = await inBridge([MAIN, 'cameras', 'discover', '--json', '--seconds', '2', '--config', config]);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as DiscoveryResult;
    assert.deepEqual([...result.probedFrom].sort(), ['10.201.0.1', '10.201.1.1']);
    assert.deepEqual(result.failures, []);
    // Each answered twice to each of the two Probes: one device each.
    assert.deepEqual(result.devices.map((d) => [d.host, d.via, d.endpointReference, d.address, d.name, d.model, d.configured]), [
      ['10.201.0.2', '10.201.0.1', 'urn:uuid:00000000-0000-4000-8000-00000000d001', 'http://10.201.0.2/onvif/device_service', 'Front door', 'DB-1', true],
      ['10.201.1.2', '10.201.1.1', 'urn:uuid:00000000-0000-4000-8000-00000000d002', 'http://10.201.1.2:8000/onvif/device_service', 'Garden', 'RLC-510A', false],
    ]);
    assert.equal(result.devices[1]!.manufacturer, 'Reolink');
    assert.deepEqual(result.devices[1]!.types, ['Network_Video_Transmitter']);
    assert.ok(result.ignored >= 2, `the noise was counted as ignored (${result.ignored})`);
    // Each device heard Probes only from the bridge's address on its own link.
    const heard = responders.map((r) => [...new Set(r.probes.map((p) => p.from))]);
    assert.deepEqual(heard, [['10.201.0.1'], ['10.201.1.1']]);
    assert.ok(responders.every((r) => r.probes.every((p) => p.answered && p.messageId.startsWith('urn:uuid:'))));
  });

  test('the text output names each device and marks the configured one', async () => {
    const run = await inBridge([MAIN, 'cameras', 'discover', '--seconds', '1', '--config', config]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^2 ONVIF devices \(probed from .* for 1 s\):$/m);
    assert.match(run.stdout, /10\.201\.0\.2 .*DB-1 "Front door"\s+http:\/\/10\.201\.0\.2\/onvif\/device_service\s+\(configured\)$/m);
    assert.match(run.stdout, /10\.201\.1\.2 .*Reolink RLC-510A "Garden"\s+http:\/\/10\.201\.1\.2:8000\/onvif\/device_service$/m);
    assert.match(run.stdout, /Inspect one: porchlight cameras inspect --onvif http:\/\/10\.201\.1\.2:8000\/onvif\/device_service/);
  });

  test('only the addresses given are probed from; one this machine does not have is reported, not fatal', async () => {
    const run = await inBridge([RUNNER, JSON.stringify({ interfaceAddresses: ['10.201.1.1', '10.201.9.9'], listenMs: 1000, configured: ['rtsp://10.201.1.2/x'] })]);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as DiscoveryResult;
    assert.deepEqual(result.probedFrom, ['10.201.1.1']);
    assert.deepEqual(result.failures, [{ address: '10.201.9.9', reason: 'EADDRNOTAVAIL' }]);
    assert.deepEqual(result.devices.map((d) => [d.host, d.configured]), [['10.201.1.2', true]]);
  });

  test('nowhere to probe from is an error that says why', async () => {
    const run = await inBridge(['--input-type=module', '-e',
      `import { discoverOnvifDevices } from ${JSON.stringify(new URL('../../src/onboarding/discovery.ts', import.meta.url).href)};
       await discoverOnvifDevices({ interfaceAddresses: ['10.201.9.9'], listenMs: 100 }).then(() => process.exit(3), (e) => { process.stdout.write(e.code); });`]);
    assert.equal(run.stdout, 'NO_SOCKET', run.stderr);
  });
});
