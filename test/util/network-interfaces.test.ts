import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { bridgeAddresses, gatherAddressCount } from '../../src/util/network-interfaces.ts';

const v4 = (address: string, internal = false) => ({ address, family: 'IPv4', internal }) as NetworkInterfaceInfo;
const v6 = (address: string) => ({ address, family: 'IPv6', internal: false }) as NetworkInterfaceInfo;

const host: Record<string, NetworkInterfaceInfo[]> = {
  lo: [v4('127.0.0.1', true)],
  eth0: [v4('192.168.1.20'), v6('fe80::1')],
  wlan0: [v4('192.168.1.21'), v4('169.254.3.4')],
  docker0: [v4('172.17.0.1')],
  'br-0a1b2c3d4e5f': [v4('172.18.0.1')],
  veth1234: [v4('10.1.0.1')],
  tun0: [v4('10.8.0.2')],
};

test('container bridges are found by name', () => {
  assert.deepEqual(bridgeAddresses(host), ['172.17.0.1', '172.18.0.1']);
});

test('ports per session: one per address werift gathers on', () => {
  assert.equal(gatherAddressCount(['127.0.0.1'], host), 1);
  assert.equal(gatherAddressCount(['192.168.1.20', '192.168.1.20', '10.0.0.2'], host), 2);
  // eth0, wlan0 and both bridges; not loopback, link-local, IPv6, veths or tunnels.
  assert.equal(gatherAddressCount(undefined, host), 4);
  assert.equal(gatherAddressCount(undefined, { lo: [v4('127.0.0.1', true)] }), 1);
});
