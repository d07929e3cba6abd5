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
