import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UdpPortPool } from '../../src/webrtc/port-pool.ts';

test('blocks are disjoint, handed out round robin, and reused only once released', () => {
  const pool = new UdpPortPool([40000, 40007], 3);
  assert.equal(pool.capacity, 2, 'a partial block at the end is not used');
  const a = pool.lease()!;
  const b = pool.lease()!;
  assert.deepEqual([a.ports, b.ports], [[40000, 40002], [40003, 40005]]);
  assert.equal(pool.lease(), undefined);
  a.release();
  a.release();
  assert.equal(pool.leased, 1, 'release is idempotent');
  assert.deepEqual(pool.lease()!.ports, [40000, 40002]);
});

test('a released block rests while later ones are free', () => {
  const pool = new UdpPortPool([50000, 50005], 1);
  assert.equal(pool.capacity, 3, 'two ports per session at least: werift refuses a one-port range');
  const first = pool.lease()!;
  first.release();
  assert.deepEqual([pool.lease()!.ports, pool.lease()!.ports, pool.lease()!.ports], [[50002, 50003], [50004, 50005], [50000, 50001]]);
});

test('a block never exceeds the range, however big a session needs it', () => {
  const pool = new UdpPortPool([40000, 40001], 5);
  assert.equal(pool.capacity, 0);
  assert.equal(pool.lease(), undefined);
});
