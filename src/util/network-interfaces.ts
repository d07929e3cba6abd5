import { networkInterfaces } from 'node:os';

/**
 * IPv4 addresses of container bridges on this host (docker0, br-…, podman, cni). werift
 * advertises them, but no Echo can reach them; with `network_mode: host` they are always there.
 */
export function bridgeAddresses(interfaces = networkInterfaces()): string[] {
  return Object.entries(interfaces).flatMap(([name, addresses]) =>
    isContainerBridge(name) ? (addresses ?? []).filter((a) => a.family === 'IPv4').map((a) => a.address) : [],
  );
}

export function isContainerBridge(name: string): boolean {
  return /^(docker\d*|br-[0-9a-f]+|podman\d*|cni\d*|virbr\d*|lxdbr\d*)$/.test(name);
}

/**
 * The external IPv4 addresses werift gathers on when no host addresses are configured: every one
 * but those of the interfaces it skips (VPN tunnels, VM and container veths) and link-local ones.
 */
export function gatherableAddresses(interfaces = networkInterfaces()): Array<{ interfaceName: string; address: string }> {
  const skipped = /^(ipsec|tun|utun|tap|vmnet|veth)/;
  return Object.entries(interfaces).flatMap(([interfaceName, list]) =>
    skipped.test(interfaceName)
      ? []
      : (list ?? []).filter((a) => a.family === 'IPv4' && !a.internal && !a.address.startsWith('169.254.')).map((a) => ({ interfaceName, address: a.address })),
  );
}

/**
 * How many addresses werift gathers host candidates on, each with a socket of its own: the
 * configured host addresses, or every external IPv4 address but those of the interfaces werift
 * skips (VPN tunnels, VM and container veths). Sizes each session's block of UDP ports.
 */
export function gatherAddressCount(hostAddresses: string[] | undefined, interfaces = networkInterfaces()): number {
  if (hostAddresses) return new Set(hostAddresses).size;
  return Math.max(1, gatherableAddresses(interfaces).length);
}

/**
 * Whether `address` belongs to this machine (or container). Under Docker's bridge networking
 * `webrtc.hostAddresses` names the host's LAN address, which the container does not have: it is
 * advertised, but the sockets must bind to every address (Docker forwards the published ports).
 */
export function isLocalAddress(address: string, interfaces = networkInterfaces()): boolean {
  return Object.values(interfaces).some((list) => (list ?? []).some((a) => a.address === address));
}
