/**
 * Finding ONVIF cameras on the LAN: WS-Discovery (ONVIF Core "Discovery", SOAP-over-UDP) — a
 * Probe for dn:NetworkVideoTransmitter multicast to 239.255.255.250:3702 from every IPv4
 * interface the bridge would advertise, the unicast ProbeMatches collected for a few seconds,
 * one device per endpoint reference.
 *
 * Not the `onvif` package's Discovery: it is a module-level EventEmitter (state and listeners
 * shared by every caller), it emits 'error' for any stray datagram (an uncaught exception when
 * nobody listens), it sends from one interface chosen by name, and its timer cannot be cut short.
 * The replies are still read with the package's (patched, linear-time) SOAP parser, as every
 * other ONVIF answer porchlight reads.
 */
import { randomUUID } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { createRequire } from 'node:module';
import { networkInterfaces } from 'node:os';
import { CodedError } from '../util/coded-error.ts';
import { printable } from '../util/printable.ts';
import { gatherableAddresses, isContainerBridge, isLocalAddress } from '../util/network-interfaces.ts';

export const WS_DISCOVERY_ADDRESS = '239.255.255.250';
export const WS_DISCOVERY_PORT = 3702;
const DEFAULT_LISTEN_MS = 3000;
/** SOAP-over-UDP sends a multicast message twice (MULTICAST_UDP_REPEAT = 1): UDP may drop one. */
const PROBE_REPEAT_DELAY_MS = 200;
/** A flood of answers (or a hostile network) cannot grow the list without bound. */
const MAX_DEVICES = 512;
const MAX_FIELD_LENGTH = 256;

export interface DiscoveredDevice {
  /** WS-Addressing endpoint reference (urn:uuid:…): the same device answering twice is one. */
  endpointReference: string;
  /** The device service URL to use: the XAddr on the address the answer came from, else the first. */
  address: string;
  /** Every device service URL it gave. */
  xaddrs: string[];
  /** The IP address the answer came from. */
  host: string;
  /** Which of our addresses the Probe that found it left from. */
  via: string;
  name?: string;
  manufacturer?: string;
  /** The hardware scope: the model as the camera names it. */
  model?: string;
  hardware?: string;
  /** onvif://www.onvif.org/type/… scopes (video_encoder, Network_Video_Transmitter, …). */
  types: string[];
  scopes: string[];
  /** It is at the host of a configured camera (its RTSP URL or ONVIF URL). */
  configured: boolean;
}

export interface DiscoverOptions {
  /** How long to listen for answers (default 3000 ms). */
  listenMs?: number;
  /** The local IPv4 addresses to probe from; default: those the bridge would advertise (discoveryAddresses()). */
  interfaceAddresses?: string[];
  /** Hosts, RTSP URLs or ONVIF URLs of configured cameras: a device at one of their hosts is `configured`. */
  configured?: string[];
  signal?: AbortSignal;
}

export interface DiscoveryResult {
  devices: DiscoveredDevice[];
  /** The addresses a Probe left from. */
  probedFrom: string[];
  /** Addresses a Probe could not leave from, and why. */
  failures: Array<{ address: string; reason: string }>;
  /** Datagrams that were not ProbeMatches (or not readable). */
  ignored: number;
}

export type DiscoveryFailureCode = 'NO_INTERFACE' | 'NO_SOCKET';
export class DiscoveryError extends CodedError<DiscoveryFailureCode> {}

/** One ProbeMatch as the device wrote it. */
export interface ProbeMatch {
  endpointReference: string;
  types: string[];
  scopes: string[];
  xaddrs: string[];
}

type Interfaces = ReturnType<typeof networkInterfaces>;

/**
 * The IPv4 addresses to probe from, chosen as the bridge chooses what it advertises to an Echo:
 * `webrtc.hostAddresses` when set (those this machine has: under Docker's bridge networking it
 * has none, and multicast could not leave the container anyway), else every external IPv4
 * address but VPN tunnels, VM and container veths, container bridges and link-local ones. Pure.
 */
export function discoveryAddresses(hostAddresses?: string[], interfaces: Interfaces = networkInterfaces()): string[] {
  if (hostAddresses?.length) return [...new Set(hostAddresses.filter((address) => isLocalAddress(address, interfaces)))];
  return [...new Set(gatherableAddresses(interfaces).filter(({ interfaceName }) => !isContainerBridge(interfaceName)).map(({ address }) => address))];
}

/** The WS-Discovery Probe (ONVIF Core 7.3.2: Types dn:NetworkVideoTransmitter, no Scopes). */
export function probeMessage(messageId: string): string {
  return '<?xml version="1.0" encoding="UTF-8"?>' +
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" ' +
    'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">' +
    `<s:Header><a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action><a:MessageID>${messageId}</a:MessageID>` +
    '<a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>' +
    '<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header>' +
    '<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>';
}

interface OnvifUtils {
  parseSOAPString(xml: string, callback: (err: Error | null, body: unknown) => void, statusCode?: number): void;
}
// The package's SOAP parser (lib/utils.js, patched: see patches/onvif+0.8.3.patch): namespace
// prefixes stripped, the first letter of a name lower-cased unless the second is upper case.
const onvifUtils = createRequire(import.meta.url)('onvif/lib/utils.js') as OnvifUtils;

/** The text of an xml2js node: a string, `{ _: text }` when it has attributes, or a one-element array of either. */
function text(node: unknown): string | undefined {
  const first = Array.isArray(node) ? node[0] : node;
  if (typeof first === 'string') return first;
  if (first && typeof first === 'object' && typeof (first as { _?: unknown })._ === 'string') return (first as { _: string })._;
  return undefined;
}

function words(value: string | undefined): string[] {
  return (value ?? '').split(/\s+/).filter(Boolean).slice(0, 64).map((w) => w.slice(0, MAX_FIELD_LENGTH));
}

/** The ProbeMatch elements of a WS-Discovery answer; [] when it is none (a Probe, a Hello, noise). */
export function parseProbeMatches(xml: string): Promise<ProbeMatch[]> {
  return new Promise((resolve) => {
    try {
      onvifUtils.parseSOAPString(xml, (err, body) => {
        if (err) return resolve([]);
        const matches = (body as Array<{ probeMatches?: Array<{ probeMatch?: unknown[] }> }> | undefined)?.[0]?.probeMatches?.[0]?.probeMatch;
        resolve((Array.isArray(matches) ? matches : []).flatMap((raw) => {
          const match = raw as Record<string, unknown>;
          const reference = text((match.endpointReference as Array<Record<string, unknown>> | undefined)?.[0]?.address)?.trim();
          const xaddrs = words(text(match.XAddrs)).filter((x) => /^https?:\/\//i.test(x));
          if (!reference && xaddrs.length === 0) return [];
          return [{
            endpointReference: (reference ?? xaddrs[0]!).slice(0, MAX_FIELD_LENGTH),
            types: words(text(match.types)),
            scopes: words(text(match.scopes)),
            xaddrs,
          }];
        }));
      });
    } catch {
      resolve([]);
    }
  });
}

export interface ScopeFacts {
  name?: string;
  manufacturer?: string;
  hardware?: string;
  types: string[];
}

/** Brands named in a camera's name or hardware scope when it has no manufacturer scope. */
const BRANDS: Array<[RegExp, string]> = [
  [/hikvision|\bhik\b|^DS-\d/i, 'Hikvision'],
  [/dahua|^(IPC|DH)-/i, 'Dahua'],
  [/amcrest|^(IP\d|AD\d|ASH)/i, 'Amcrest'],
  [/reolink|^RLC-/i, 'Reolink'],
  [/\baxis\b/i, 'Axis'],
  [/uniview|\bunv\b|^IPC\d/i, 'Uniview'],
  [/foscam/i, 'Foscam'],
  [/tp-?link|tapo/i, 'TP-Link'],
  [/hanwha|wisenet|samsung/i, 'Hanwha'],
  [/annke/i, 'Annke'],
  [/lorex/i, 'Lorex'],
  [/vivotek/i, 'Vivotek'],
];

/** A brand from any text that names one (a name, a model, a manufacturer). Pure. */
export function brandOf(...texts: Array<string | undefined>): string | undefined {
  for (const value of texts) {
    if (!value) continue;
    const found = BRANDS.find(([pattern]) => pattern.test(value));
    if (found) return found[1];
  }
  return undefined;
}

/** Name, manufacturer, hardware and types from onvif://www.onvif.org/<category>/<value> scopes. Pure. */
export function scopeFacts(scopes: string[]): ScopeFacts {
  const facts: ScopeFacts = { types: [] };
  for (const scope of scopes) {
    const match = /^onvif:\/\/www\.onvif\.org\/([^/]+)\/(.+)$/i.exec(scope);
    if (!match) continue;
    let value: string;
    try {
      value = decodeURIComponent(match[2]!);
    } catch {
      value = match[2]!;
    }
    value = printable(value, MAX_FIELD_LENGTH);
    if (!value) continue;
    switch (match[1]!.toLowerCase()) {
      case 'name': facts.name ??= value; break;
      case 'hardware': facts.hardware ??= value; break;
      case 'manufacturer': facts.manufacturer ??= value; break;
      case 'type': facts.types.push(value); break;
    }
  }
  if (!facts.manufacturer) {
    const brand = brandOf(facts.name, facts.hardware);
    if (brand) facts.manufacturer = brand;
  }
  return facts;
}

/** The host of a host name, IP, or URL, lower-cased without IPv6 brackets; undefined when unreadable. */
export function hostOf(value: string): string | undefined {
  const trimmed = value.trim();
  if (!trimmed) return undefined;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    try {
      return new URL(trimmed).hostname.replace(/^\[|\]$/g, '').toLowerCase() || undefined;
    } catch {
      return undefined;
    }
  }
  // host:port, [v6]:port, or a bare IPv6 address (more than one colon: no port to cut).
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(trimmed);
  if (bracketed) return bracketed[1]!.toLowerCase();
  return (trimmed.split(':').length > 2 ? trimmed : trimmed.replace(/:\d+$/, '')).toLowerCase();
}

/** Whether a device (its answer's source and its XAddrs' hosts) is at one of the configured hosts. Pure. */
export function isConfigured(device: Pick<DiscoveredDevice, 'host' | 'xaddrs'>, configured: readonly string[]): boolean {
  const hosts = new Set(configured.map(hostOf).filter((h): h is string => h !== undefined));
  return [device.host, ...device.xaddrs].map(hostOf).some((h) => h !== undefined && hosts.has(h));
}

/** The XAddr on the address the answer came from (a camera lists one per interface), else the first. */
function preferredXaddr(xaddrs: string[], from: string): string | undefined {
  return xaddrs.find((x) => hostOf(x) === from) ?? xaddrs[0];
}

/** A device record from one ProbeMatch. Pure. */
export function deviceFromMatch(match: ProbeMatch, from: string, via: string, configured: readonly string[]): DiscoveredDevice {
  const facts = scopeFacts(match.scopes);
  const xaddrs = match.xaddrs.map((x) => printable(x, MAX_FIELD_LENGTH));
  const device: DiscoveredDevice = {
    endpointReference: printable(match.endpointReference, MAX_FIELD_LENGTH),
    address: preferredXaddr(xaddrs, from) ?? `http://${from}/onvif/device_service`,
    xaddrs,
    host: from,
    via,
    ...(facts.name && { name: facts.name }),
    ...(facts.manufacturer && { manufacturer: facts.manufacturer }),
    ...(facts.hardware && { model: facts.hardware, hardware: facts.hardware }),
    types: facts.types,
    scopes: match.scopes.map((s) => printable(s, MAX_FIELD_LENGTH)),
    configured: false,
  };
  device.configured = isConfigured(device, configured);
  return device;
}

/**
 * Probes from every address (or those given) and collects the answers for `listenMs`. Each
 * address gets its own socket, bound to it with the multicast interface set to it, so the Probe
 * leaves on that interface and the unicast answers come back to that socket; every socket is
 * closed before this resolves. Throws NO_INTERFACE when there is no address to probe from, and
 * NO_SOCKET when no Probe could be sent at all.
 */
export async function discoverOnvifDevices(options: DiscoverOptions = {}): Promise<DiscoveryResult> {
  const addresses = options.interfaceAddresses ?? discoveryAddresses();
  if (addresses.length === 0) {
    throw new DiscoveryError('NO_INTERFACE', 'no IPv4 interface to probe from (is this a container on a bridge network? WS-Discovery needs the LAN: network_mode: host)');
  }
  const configured = options.configured ?? [];
  const messageId = `urn:uuid:${randomUUID()}`;
  const probe = Buffer.from(probeMessage(messageId));
  const devices = new Map<string, DiscoveredDevice>();
  const failures: DiscoveryResult['failures'] = [];
  const probedFrom: string[] = [];
  const sockets: Socket[] = [];
  /** The sockets a Probe left from. Never send on another: an unbound socket would bind itself to any address. */
  const probing: Socket[] = [];
  const parsing = new Set<Promise<void>>();
  let ignored = 0;

  const onMessage = (via: string) => (message: Buffer, remote: RemoteInfo) => {
    // Kept until read: the result waits for every answer that arrived in time.
    const parsed: Promise<void> = parseProbeMatches(message.toString('utf8')).then((matches) => {
      if (matches.length === 0) ignored += 1;
      for (const match of matches) {
        if (devices.has(match.endpointReference) || devices.size >= MAX_DEVICES) continue;
        devices.set(match.endpointReference, deviceFromMatch(match, remote.address, via, configured));
      }
    }).finally(() => parsing.delete(parsed));
    parsing.add(parsed);
  };

  try {
    await Promise.all([...new Set(addresses)].map(async (address) => {
      const socket = createSocket({ type: 'udp4' });
      sockets.push(socket);
      // Errors after binding (an ICMP unreachable, an interface going away) end nothing: the
      // answers from other interfaces still count.
      socket.on('error', () => {});
      socket.on('message', onMessage(address));
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.bind({ address, port: 0 }, () => {
            socket.off('error', reject);
            resolve();
          });
        });
        socket.setMulticastInterface(address);
        socket.setMulticastTTL(1); // the LAN only: cameras are next to the bridge
        await send(socket, probe);
        probedFrom.push(address);
        probing.push(socket);
      } catch (err) {
        failures.push({ address, reason: (err as NodeJS.ErrnoException).code ?? (err as Error).message });
      }
    }));
    if (probedFrom.length === 0) {
      throw new DiscoveryError('NO_SOCKET', `could not send a Probe from ${failures.map((f) => `${f.address} (${f.reason})`).join(', ')}`);
    }
    await wait(PROBE_REPEAT_DELAY_MS, options.signal);
    await Promise.all(probing.map((socket) => send(socket, probe).catch(() => {})));
    await wait(Math.max(0, (options.listenMs ?? DEFAULT_LISTEN_MS) - PROBE_REPEAT_DELAY_MS), options.signal);
  } finally {
    await Promise.all(sockets.map((socket) => new Promise<void>((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve(); // never bound, or already closed
      }
    })));
  }
  await Promise.all([...parsing]);
  const list = [...devices.values()].sort((a, b) => a.host.localeCompare(b.host, 'en', { numeric: true }) || a.endpointReference.localeCompare(b.endpointReference));
  return { devices: list, probedFrom, failures, ignored };
}

function send(socket: Socket, message: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.send(message, WS_DISCOVERY_PORT, WS_DISCOVERY_ADDRESS, (err) => (err ? reject(err) : resolve()));
  });
}

/** Resolves after `ms`, or at once when the signal aborts (the caller then stops listening). */
function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
