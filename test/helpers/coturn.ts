import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Debian's coturn (`turnserver`) as a STUN/TURN server for tests: long-term credentials with a
 * fresh random password (tests look for it in logs and APIs), no TLS, no CLI, its pid file and
 * user database in a temp dir of its own. Optionally inside a network namespace.
 */
export interface Coturn {
  host: string;
  port: number;
  username: string;
  credential: string;
  /** What it printed (stdout and stderr). */
  log(): string;
  /** Idempotent: SIGTERM, then SIGKILL after 2 s; removes its temp dir. */
  stop(): Promise<void>;
}

export interface CoturnOptions {
  listenIp: string;
  port: number;
  /** Relay allocations on this address (default listenIp) and ports. */
  relayIp?: string;
  relayPorts: [number, number];
  /** Run it inside this network namespace (`ip netns exec`). */
  netns?: string;
  /** Needed when peers are on 127.0.0.1. */
  loopbackPeers?: boolean;
  /** Log every session and permission (debugging a test). */
  verbose?: boolean;
}

export function coturnInstalled(): boolean {
  return spawnSync('turnserver', ['--version'], { stdio: 'ignore' }).error === undefined;
}

export async function startCoturn(options: CoturnOptions): Promise<Coturn> {
  const dir = mkdtempSync(join(tmpdir(), 'porchlight-coturn-'));
  const username = 'porchlight';
  const credential = `turn-secret-${randomBytes(6).toString('hex')}`;
  const args = [
    '-n', '--listening-ip', options.listenIp, '--listening-port', String(options.port),
    '--relay-ip', options.relayIp ?? options.listenIp,
    '--min-port', String(options.relayPorts[0]), '--max-port', String(options.relayPorts[1]),
    '--lt-cred-mech', '--user', `${username}:${credential}`, '--realm', 'porchlight.test',
    '--no-tls', '--no-dtls', '--no-cli', '--pidfile', join(dir, 'turnserver.pid'), '--db', join(dir, 'turndb'),
    '--log-file', 'stdout', '--simple-log',
    ...(options.loopbackPeers ? ['--allow-loopback-peers'] : []),
    ...(options.verbose ? ['--Verbose'] : []),
  ];
  const child: ChildProcess = options.netns
    ? spawn('ip', ['netns', 'exec', options.netns, 'turnserver', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('turnserver', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const server: Coturn = { host: options.listenIp, port: options.port, username, credential, log: () => output.join(''), stop };
  try {
    const deadline = Date.now() + 5000;
    while (!(await stunAnswers(options.listenIp, options.port, 200))) {
      if (child.exitCode !== null) throw new Error(`turnserver exited with ${child.exitCode}: ${server.log().slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`turnserver did not answer STUN on ${options.listenIp}:${options.port} within 5 s`);
    }
    return server;
  } catch (err) {
    await stop();
    throw err;
  }
}

/** One STUN Binding request (RFC 5389); true when a Binding success response comes back in time. */
export function stunAnswers(host: string, port: number, timeoutMs: number): Promise<boolean> {
  const transaction = randomBytes(12);
  const request = Buffer.concat([Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]), transaction]);
  const socket = createSocket('udp4');
  return new Promise<boolean>((resolve) => {
    let settled = false;
    const done = (answered: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.close();
      resolve(answered);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('error', () => done(false));
    socket.on('message', (message) => {
      if (message.length >= 20 && message.readUInt16BE(0) === 0x0101 && message.subarray(8, 20).equals(transaction)) done(true);
    });
    socket.send(request, port, host);
  });
}
