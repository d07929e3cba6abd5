/**
 * `porchlight cameras discover|inspect` from parsed options (src/cli.ts): find ONVIF cameras on
 * the LAN, and say what one will be on an Echo. Output goes through the io it is given; the
 * camera password is read from a file, never taken on the command line, and scrubbed from every
 * line written.
 */
import { readFileSync } from 'node:fs';
import { resolveConfigPath } from '../config/config-file.ts';
import { loadConfigFile } from '../config/load.ts';
import type { CameraConfig } from '../config/schema.ts';
import { onvifTarget } from '../events/event-sources.ts';
import { redactSecrets } from '../util/redact.ts';
import { discoverOnvifDevices, discoveryAddresses, type DiscoveryResult } from './discovery.ts';
import { describeProfile, inspectOnvifDevice, InspectError, type Inspection } from './inspect.ts';
import { findRtspPath, type RtspPathResult } from './rtsp-paths.ts';

export interface CamerasCliIo {
  env: NodeJS.ProcessEnv;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Default: the file system. */
  readFile?: (path: string) => string;
}

type Values = Record<string, string | boolean | undefined>;

const DEFAULT_SECONDS = 3;
const MAX_SECONDS = 60;

/** Hosts (from RTSP and ONVIF URLs) of the configured cameras: a device at one is already set up. Pure. */
export function configuredHosts(cameras: ReadonlyArray<Pick<CameraConfig, 'url' | 'onvif'>>): string[] {
  return cameras.flatMap((camera) => {
    const urls = [camera.url, onvifTarget(camera)?.url].filter((u): u is string => u !== undefined && /^[a-z]+:\/\//i.test(u));
    return urls.flatMap((u) => {
      try {
        const host = new URL(u).hostname;
        return host ? [host] : [];
      } catch {
        return [];
      }
    });
  });
}

export async function camerasCli(command: 'discover' | 'inspect', values: Values, io: CamerasCliIo): Promise<number> {
  return command === 'discover' ? discover(values, io) : inspect(values, io);
}

async function discover(values: Values, io: CamerasCliIo): Promise<number> {
  const seconds = values.seconds === undefined ? DEFAULT_SECONDS : Number(values.seconds);
  if (!Number.isFinite(seconds) || seconds < 1 || seconds > MAX_SECONDS) {
    io.stderr(`porchlight cameras discover: --seconds must be a number from 1 to ${MAX_SECONDS}\n`);
    return 2;
  }
  let cameras: CameraConfig[];
  let hostAddresses: string[] | undefined;
  try {
    const { config } = loadConfigFile(resolveConfigPath(values.config as string | undefined, io.env), io.env);
    cameras = config.cameras;
    hostAddresses = config.webrtc.hostAddresses;
  } catch (err) {
    io.stderr(`porchlight cameras discover: ${(err as Error).message}\n`);
    return 1;
  }
  let result: DiscoveryResult;
  try {
    result = await discoverOnvifDevices({ listenMs: seconds * 1000, interfaceAddresses: discoveryAddresses(hostAddresses), configured: configuredHosts(cameras) });
  } catch (err) {
    io.stderr(`porchlight cameras discover: ${(err as Error).message}\n`);
    return 1;
  }
  for (const failure of result.failures) io.stderr(`porchlight cameras discover: could not probe from ${failure.address}: ${failure.reason}\n`);
  if (values.json) {
    io.stdout(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  }
  const from = `probed from ${result.probedFrom.join(', ')} for ${seconds} s`;
  if (result.devices.length === 0) {
    io.stdout(`No ONVIF device answered (${from}).\nA camera with ONVIF switched off, or on another subnet or VLAN, does not answer: inspect it by address\n` +
      '(porchlight cameras inspect --onvif http://IP --user U --password-file F, or --rtsp-host IP).\n');
    return 0;
  }
  io.stdout(`${result.devices.length} ONVIF device${result.devices.length === 1 ? '' : 's'} (${from}):\n`);
  for (const device of result.devices) {
    const what = [device.manufacturer, device.model].filter(Boolean).join(' ') || 'unknown model';
    io.stdout(`  ${device.host.padEnd(15)}  ${what}${device.name ? ` "${device.name}"` : ''}  ${device.address}${device.configured ? '  (configured)' : ''}\n`);
  }
  const fresh = result.devices.find((d) => !d.configured);
  if (fresh) io.stdout(`Inspect one: porchlight cameras inspect --onvif ${fresh.address} --user USER --password-file FILE\n`);
  return 0;
}

/** IP, IP:port, [v6]:port or a bare IPv6 address. */
function hostAndPort(value: string): { host: string; port?: number } | undefined {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(value);
  if (bracketed) return { host: bracketed[1]!, ...(bracketed[2] && { port: Number(bracketed[2]) }) };
  if (value.split(':').length > 2) return { host: value };
  const match = /^([^:/\s]+)(?::(\d{1,5}))?$/.exec(value);
  if (!match) return undefined;
  return { host: match[1]!, ...(match[2] && { port: Number(match[2]) }) };
}

async function inspect(values: Values, io: CamerasCliIo): Promise<number> {
  const name = 'porchlight cameras inspect';
  const onvifUrl = values.onvif as string | undefined;
  const rtspHost = values['rtsp-host'] as string | undefined;
  const username = values.user as string | undefined;
  const passwordFile = values['password-file'] as string | undefined;
  if (!onvifUrl && !rtspHost) {
    io.stderr(`${name}: give --onvif http://IP[:port] (an ONVIF camera) or --rtsp-host IP[:port] (the common RTSP paths)\n`);
    return 2;
  }
  const target = rtspHost === undefined ? undefined : hostAndPort(rtspHost);
  if (rtspHost !== undefined && !target) {
    io.stderr(`${name}: --rtsp-host must be IP or IP:port\n`);
    return 2;
  }
  if (passwordFile !== undefined && username === undefined) {
    io.stderr(`${name}: --password-file needs --user\n`);
    return 2;
  }
  const password = passwordFile === undefined ? undefined : readPasswordFile(io, passwordFile, name);
  if (password === null) return 1;
  const scrub = passwordScrubber(password);
  const out = (text: string) => io.stdout(scrub(text));
  const err = (text: string) => io.stderr(scrub(text));

  const report: { onvif?: Inspection | { error: { code: string; step: string; message: string }; partial?: Inspection }; rtsp?: RtspPathResult } = {};
  let ok = false;
  let brand: string | undefined;
  if (onvifUrl) {
    try {
      const inspection = await inspectOnvifDevice({ onvifUrl, ...(username !== undefined && { username }), ...(password !== undefined && { password }) });
      report.onvif = inspection;
      ok = true;
      if (!values.json) out(formatInspection(inspection));
    } catch (e) {
      if (!(e instanceof InspectError)) throw e;
      report.onvif = { error: { code: e.code, step: e.step, message: e.message }, ...(e.partial && { partial: e.partial }) };
      brand = e.partial?.device.manufacturer;
      if (!values.json) {
        if (e.partial) out(formatInspection(e.partial));
        err(`✘ ${e.step}: ${e.message}\n`);
        if (!target && (e.code === 'NO_REPLY' || e.code === 'NOT_ONVIF' || e.code === 'NO_MEDIA' || e.code === 'CREDENTIALS')) {
          err('  A camera without ONVIF (or with ONVIF refusing you) may still stream: try the common RTSP paths with --rtsp-host IP.\n');
        }
      }
    }
  }
  if (!ok && target) {
    const result = await findRtspPath({ host: target.host, ...(target.port && { port: target.port }), ...(username !== undefined && { username }), ...(password !== undefined && { password }), ...(brand && { brand }) });
    report.rtsp = result;
    ok = result.found;
    if (!values.json) {
      if (result.found) {
        out(`RTSP        ${result.url} answers DESCRIBE ${result.status}${result.scheme ? ` (${result.scheme})` : ''}: ${result.candidate.brand} ${result.candidate.stream} stream, ${result.tried} path${result.tried === 1 ? '' : 's'} tried\n` +
          '            Codec and size are not known without ONVIF: porchlight reads them when it first streams (transcode: auto).\n');
      } else {
        err(`✘ RTSP paths: ${result.reason}\n`);
      }
    }
  }
  if (values.json) out(`${JSON.stringify(report, null, 2)}\n`);
  return ok ? 0 : 1;
}

/** The inspection for people: one subject per line. */
export function formatInspection(inspection: Inspection): string {
  const lines: string[] = [];
  // Every camera-given text in an Inspection was made printable when it was read.
  const add = (label: string, text: string) => lines.push(`${label.padEnd(12)}${text}`);
  const { device } = inspection;
  const who = [device.manufacturer, device.model].filter(Boolean).join(' ') || 'unknown device';
  const details = [device.name && `"${device.name}"`, device.firmwareVersion && `firmware ${device.firmwareVersion}`, device.serialNumber && `serial ${device.serialNumber}`].filter(Boolean).join(', ');
  add('Device', `${who}${details ? ` (${details})` : ''}`);
  const clock = inspection.clockOffsetMs !== undefined && Math.abs(inspection.clockOffsetMs) >= 5000
    ? `; its clock is ${Math.round(Math.abs(inspection.clockOffsetMs) / 1000)} s ${inspection.clockOffsetMs < 0 ? 'behind' : 'ahead of'} ours (WS-Security uses the camera's)`
    : '';
  add('ONVIF', `${inspection.onvifUrl} (${inspection.mediaService === 'media2' ? 'Media2' : 'Media'})${clock}`);
  inspection.profiles.forEach((profile, i) => {
    add(i === 0 ? 'Streams' : '', `${i + 1}. ${profile.name}: ${describeProfile(profile)}${profile.uri ? `  ${profile.uri}` : '  (no RTSP URI)'}`);
  });
  const { choice } = inspection;
  if (choice.mode === 'none') add('Echo', `nothing to show: ${choice.reason}`);
  else add('Echo', `${choice.profile.name}, ${choice.mode === 'passthrough' ? 'passed through' : 'transcoded'}: ${choice.reason}`);
  if (inspection.confirmed) add('', `✔ DESCRIBE ${inspection.confirmed.url}: ${inspection.confirmed.status}${inspection.confirmed.scheme ? ` (${inspection.confirmed.scheme} auth)` : ''}`);
  if (inspection.snapshotUri) add('Snapshot', inspection.snapshotUri);
  add('Audio', `${inspection.audio.codec ?? 'none'}; talkback ${inspection.audio.talkback ? 'possible' : 'not possible'}: ${inspection.audio.reason}`);
  const { events } = inspection;
  if (!events.available) add('Events', events.reason ?? 'none');
  else {
    add('Events', `doorbell: ${events.doorbell.reason}`);
    add('', `motion: ${events.motion.reason}`);
  }
  add('Doorbell', inspection.doorbell.likely
    ? `looks like one (${inspection.doorbell.why}): confirm it when adding (kind: doorbell)`
    : 'nothing says so (kind: camera, unless you know better)');
  return `${lines.join('\n')}\n`;
}

/** The password file's one line (a trailing newline is not part of it); null once it said why it cannot be read. */
export function readPasswordFile(io: CamerasCliIo, path: string, command: string): string | null {
  try {
    return (io.readFile ?? ((file: string) => readFileSync(file, 'utf8')))(path).replace(/\r?\n$/, '');
  } catch (err) {
    io.stderr(`${command}: cannot read the password file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}\n`);
    return null;
  }
}

/**
 * Nothing in these commands prints the password; this is the net under that promise (short ones
 * would blank out ordinary words, and those are not worth a guess anyway).
 */
export function passwordScrubber(password: string | undefined): (text: string) => string {
  return (text) => redactSecrets(password && password.length >= 4 ? text.split(password).join('***') : text);
}
