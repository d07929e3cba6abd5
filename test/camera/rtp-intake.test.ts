import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { RtpIntake, type RtpKind } from '../../src/camera/rtp-intake.ts';
import { until } from '../helpers/until.ts';

const sockets: Socket[] = [];
const intakes: RtpIntake[] = [];

after(() => {
  for (const intake of intakes) intake.close();
  for (const socket of sockets) socket.close();
});

async function open(options?: Parameters<typeof RtpIntake.open>[0]): Promise<RtpIntake> {
  const intake = await RtpIntake.open(options);
  intakes.push(intake);
  return intake;
}

async function sender(address = '127.0.0.1'): Promise<Socket> {
  const socket = createSocket('udp4');
  const bound = once(socket, 'listening');
  socket.bind(0, address);
  await bound;
  sockets.push(socket);
  return socket;
}

function rtp(seq: number, payloadBytes = 100): Buffer {
  const packet = Buffer.alloc(12 + payloadBytes);
  packet[0] = 0x80; // version 2
  packet[1] = 96;
  packet.writeUInt16BE(seq, 2);
  packet.writeUInt32BE(seq * 3000, 4);
  packet.writeUInt32BE(0xdeadbeef, 8);
  return packet;
}

async function send(socket: Socket, port: number, packet: Buffer): Promise<void> {
  await new Promise<void>((resolve, reject) => socket.send(packet, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
}

describe('RtpIntake', () => {
  it('binds three distinct loopback ports (video, Opus, G.711)', async () => {
    const intake = await open();
    assert.ok(intake.videoPort > 0 && intake.audioPort > 0 && intake.g711Port > 0);
    assert.equal(new Set([intake.videoPort, intake.audioPort, intake.g711Port]).size, 3);
    assert.ok(intake.receiveBufferBytes > 0);
  });

  it('emits packets per kind and counts them', async () => {
    const intake = await open();
    const from = await sender();
    const seen: Array<[RtpKind, number]> = [];
    intake.on('packet', (kind, packet) => seen.push([kind, packet.readUInt16BE(2)]));
    assert.equal(intake.stats('video').lastPacketAt, null);

    const before = performance.now();
    for (let seq = 1; seq <= 3; seq++) await send(from, intake.videoPort, rtp(seq, 100));
    await send(from, intake.audioPort, rtp(7, 40));
    await until('4 packets', () => seen.length === 4, 2000);

    assert.deepEqual(seen.filter(([kind]) => kind === 'video').map(([, seq]) => seq), [1, 2, 3]);
    assert.deepEqual(seen.filter(([kind]) => kind === 'audio'), [['audio', 7]]);
    const video = intake.stats('video');
    const audio = intake.stats('audio');
    assert.deepEqual({ packets: video.packets, bytes: video.bytes, rejected: video.rejected }, { packets: 3, bytes: 3 * 112, rejected: 0 });
    assert.deepEqual({ packets: audio.packets, bytes: audio.bytes, rejected: audio.rejected }, { packets: 1, bytes: 52, rejected: 0 });
    assert.ok(video.lastPacketAt !== null && video.lastPacketAt >= before && video.lastPacketAt <= performance.now());
    assert.ok(audio.lastPacketAt !== null && audio.lastPacketAt >= before);
  });

  it('rejects datagrams that are not RTP v2', async () => {
    const intake = await open();
    const from = await sender();
    let packets = 0;
    intake.on('packet', () => packets++);
    await send(from, intake.videoPort, Buffer.from('hello')); // shorter than an RTP header
    const v0 = rtp(1);
    v0[0] = 0x00;
    await send(from, intake.videoPort, v0);
    await send(from, intake.videoPort, rtp(2)); // a good one, to know the others were processed
    await until('the valid packet', () => intake.stats('video').packets === 1, 2000);
    assert.equal(packets, 1);
    assert.equal(intake.stats('video').rejected, 2);
  });

  it('ignores datagrams from another loopback address than 127.0.0.1', async (t) => {
    const intake = await open();
    let other: Socket;
    try {
      other = await sender('127.0.0.2');
    } catch {
      t.skip('cannot bind 127.0.0.2 here');
      return;
    }
    let packets = 0;
    intake.on('packet', () => packets++);
    await send(other, intake.audioPort, rtp(1));
    await until('the rejection', () => intake.stats('audio').rejected === 1, 2000);
    assert.equal(packets, 0);
    assert.equal(intake.stats('audio').packets, 0);
    assert.equal(intake.stats('audio').lastPacketAt, null);
  });

  it('applies the requested receive buffer (the kernel may round it up)', async () => {
    const intake = await open({ receiveBufferBytes: 64 * 1024 });
    assert.ok(intake.receiveBufferBytes >= 64 * 1024, `got ${intake.receiveBufferBytes}`);
    await assert.rejects(RtpIntake.open({ receiveBufferBytes: 0 }), RangeError);
  });

  it('close() is idempotent and frees both ports at once', async () => {
    const intake = await open();
    const { videoPort, audioPort } = intake;
    intake.close();
    intake.close();
    assert.equal(intake.closed, true);
    for (const port of [videoPort, audioPort]) {
      const socket = createSocket('udp4');
      sockets.push(socket);
      const bound = once(socket, 'listening');
      socket.bind(port, '127.0.0.1');
      await bound; // EADDRINUSE would reject here
      assert.equal(socket.address().port, port);
    }
  });
});
