import { networkInterfaces } from 'node:os';

/**
 * IPv4 addresses of container bridges on this host (docker0, br-…, podman, cni). werift
 * advertises them, but no Echo can reach them; with `network_mode: host` they are always there.
 */
export function bridgeAddresses(interfaces = networkInterfaces()): string[] {
  const bridge = /^(docker\d*|br-[0-9a-f]+|podman\d*|cni\d*|virbr\d*|lxdbr\d*)$/;
  return Object.entries(interfaces).flatMap(([name, addresses]) =>
    bridge.test(name) ? (addresses ?? []).filter((a) => a.family === 'IPv4').map((a) => a.address) : [],
  );
}

/**
 * How many addresses werift gathers host candidates on, each with a socket of its own: the
 * configured host addresses, or every external IPv4 address but those of the interfaces werift
 * skips (VPN tunnels, VM and container veths). Sizes each session's block of UDP ports.
 */
export function gatherAddressCount(hostAddresses: string[] | undefined, interfaces = networkInterfaces()): number {
  if (hostAddresses) return new Set(hostAddresses).size;
  const skipped = /^(ipsec|tun|utun|tap|vmnet|veth)/;
  const addresses = Object.entries(interfaces).flatMap(([name, list]) =>
    skipped.test(name) ? [] : (list ?? []).filter((a) => a.family === 'IPv4' && !a.internal && !a.address.startsWith('169.254.')),
  );
  return Math.max(1, addresses.length);
}

/**
 * Whether `address` belongs to this machine (or container). Under Docker's bridge networking
 * `webrtc.hostAddresses` names the host's LAN address, which the container does not have: it is
 * advertised, but the sockets must bind to every address (Docker forwards the published ports).
 */
export function isLocalAddress(address: string, interfaces = networkInterfaces()): boolean {
  return Object.values(interfaces).some((list) => (list ?? []).some((a) => a.address === address));
}
