import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';

/**
 * Two homes and the internet between them, in network namespaces (iproute2, iptables), all in
 * one 10.N.0.0/16 nobody else here uses:
 *
 *   root ns (the bridge, this process)      "public" ns (coturn)        viewer's home
 *   10.N.1.1 ─── bnat ns ─── 10.N.3.2 ─── 10.N.3.1 · 10.N.2.1 ─── 10.N.2.2 ─── vnat ns ─── 10.N.100.2 (viewer ns)
 *            10.N.1.2  MASQUERADE                           MASQUERADE  10.N.100.1
 *
 * Both NATs drop unsolicited inbound packets, as home routers do.
 * The public namespace routes between the two NATs and knows no private network; the root
 * namespace gets one route, 10.N.0.0/16 via its NAT, on the veth that is deleted with it: nothing
 * sent to these addresses ever leaves the machine. Each step registers its undo; destroy() runs
 * them all (errors ignored), so a half-built topology is removed too.
 */
export interface NatTopology {
  /** The bridge's address (root namespace), behind the bridge-side NAT. */
  bridgeIp: string;
  /** The bridge NAT's public address (the bridge's server-reflexive address). */
  bridgeNatIp: string;
  /** coturn's address in the public namespace; an address there nothing answers on. */
  publicIp: string;
  deadIp: string;
  viewerIp: string;
  viewerNatIp: string;
  ns: { public: string; bridgeNat: string; viewerNat: string; viewer: string };
  /** cone: MASQUERADE keeps source ports (hole punching works); symmetric: --random-fully (it does not). */
  setBridgeNat(mode: 'cone' | 'symmetric'): void;
  /**
   * Docker's `ports: ["A-B:A-B/udp"]`: the bridge NAT forwards these UDP ports of its public
   * address to the bridge, as a host forwards them to a container. Returns the undo.
   */
  publishUdp(range: [number, number]): () => void;
  destroy(): void;
}

const run = (command: string, args: string[]) => execFileSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000, encoding: 'utf8' });
const inNs = (ns: string, command: string, args: string[]) => run('ip', ['netns', 'exec', ns, command, ...args]);

/** Why namespaces cannot be made here (not root, or the kernel refuses), or undefined. */
export function namespacesForbidden(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root (ip netns add); this process is not root';
  const probe = `plprobe${randomBytes(3).toString('hex')}`;
  try {
    run('ip', ['netns', 'add', probe]);
  } catch (err) {
    const text = `${(err as { stderr?: string }).stderr ?? ''} ${(err as Error).message}`;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('the `ip` command (iproute2) is missing: scripts/setup.sh --test installs it');
    if (/not permitted|permission denied|read-only/i.test(text)) return `this machine forbids network namespaces: ${text.trim().split('\n')[0]}`;
    throw err;
  }
  run('ip', ['netns', 'del', probe]);
  return undefined;
}

function freeSecondOctet(): number {
  const used = run('ip', ['-4', 'route', 'show', 'table', 'all']) + run('ip', ['-4', 'addr']);
  for (let tries = 0; tries < 50; tries += 1) {
    const n = randomInt(64, 250);
    if (!used.includes(`10.${n}.`)) return n;
  }
  throw new Error('no free 10.N.0.0/16 for the test topology');
}

export function buildNatTopology(): NatTopology {
  const undo: Array<() => void> = [];
  const destroy = () => {
    for (const step of undo.reverse()) {
      try {
        step();
      } catch {
        // best effort: the namespace's deletion takes what is left with it
      }
    }
    undo.length = 0;
  };
  const p = `pl${randomBytes(2).toString('hex')}`;
  const n = freeSecondOctet();
  const ip = (host: string) => `10.${n}.${host}`;
  const ns = { public: `${p}-pub`, bridgeNat: `${p}-bnat`, viewerNat: `${p}-vnat`, viewer: `${p}-view` };
  const natRules = new Map<string, string[]>();
  const masquerade = (namespace: string, wan: string, extra: string[]) => {
    const rule = ['POSTROUTING', '-o', wan, '-j', 'MASQUERADE', ...extra];
    const previous = natRules.get(namespace);
    if (previous) inNs(namespace, 'iptables', ['-t', 'nat', '-D', ...previous]);
    inNs(namespace, 'iptables', ['-t', 'nat', '-A', ...rule]);
    if (!previous) undo.push(() => inNs(namespace, 'iptables', ['-t', 'nat', '-D', ...natRules.get(namespace)!]));
    natRules.set(namespace, rule);
  };
  try {
    for (const name of Object.values(ns)) {
      run('ip', ['netns', 'add', name]);
      undo.push(() => run('ip', ['netns', 'del', name]));
      inNs(name, 'ip', ['link', 'set', 'lo', 'up']);
      inNs(name, 'sysctl', ['-qw', 'net.ipv4.conf.all.rp_filter=0']);
    }
    // [end A, its namespace (undefined: root), its address] ↔ [end B, …]
    const link = (a: [string, string | undefined, string], b: [string, string, string]) => {
      run('ip', ['link', 'add', a[0], 'type', 'veth', 'peer', 'name', b[0]]);
      // Only the root end is still in the root namespace by then; the others go with theirs.
      undo.push(() => run('ip', ['link', 'del', a[0]]));
      for (const [name, namespace, address] of [a, b]) {
        if (namespace) run('ip', ['link', 'set', name, 'netns', namespace]);
        const exec = (args: string[]) => (namespace ? inNs(namespace, 'ip', args) : run('ip', args));
        exec(['addr', 'add', `${address}/24`, 'dev', name]);
        exec(['link', 'set', name, 'up']);
      }
    };
    link([`${p}b0`, undefined, ip('1.1')], [`${p}b1`, ns.bridgeNat, ip('1.2')]);
    link([`${p}b2`, ns.bridgeNat, ip('3.2')], [`${p}p3`, ns.public, ip('3.1')]);
    link([`${p}p2`, ns.public, ip('2.1')], [`${p}v2`, ns.viewerNat, ip('2.2')]);
    link([`${p}v1`, ns.viewerNat, ip('100.1')], [`${p}v0`, ns.viewer, ip('100.2')]);
    run('ip', ['route', 'add', `10.${n}.0.0/16`, 'via', ip('1.2'), 'dev', `${p}b0`]);
    undo.push(() => run('ip', ['route', 'del', `10.${n}.0.0/16`]));
    for (const router of [ns.public, ns.bridgeNat, ns.viewerNat]) inNs(router, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    // The internet drops what it cannot route, silently: coturn relaying to a viewer's private
    // address must not get an error from sendto (no route: ENETUNREACH; a blackhole route:
    // EINVAL), which makes it close the whole allocation. A default route via a neighbour that
    // never answers ARP swallows it instead, without an error, on a link of ours.
    inNs(ns.public, 'ip', ['route', 'add', 'default', 'via', ip('2.254')]);
    inNs(ns.bridgeNat, 'ip', ['route', 'add', 'default', 'via', ip('3.1')]);
    inNs(ns.viewerNat, 'ip', ['route', 'add', 'default', 'via', ip('2.1')]);
    inNs(ns.viewer, 'ip', ['route', 'add', 'default', 'via', ip('100.1')]);
    for (const [router, wan] of [[ns.viewerNat, `${p}v2`], [ns.bridgeNat, `${p}b2`]] as const) {
      masquerade(router, wan, []);
      // Like a home router, drop what nobody inside asked for. Dropped in INPUT, its conntrack
      // entry is never confirmed: otherwise the peer's first check (arriving before ours went
      // out) holds the port, MASQUERADE maps our check to another one, and hole punching fails.
      const drop = ['INPUT', '-i', wan, '-m', 'conntrack', '--ctstate', 'NEW,INVALID', '-j', 'DROP'];
      inNs(router, 'iptables', ['-A', ...drop]);
      undo.push(() => inNs(router, 'iptables', ['-D', ...drop]));
    }
  } catch (err) {
    destroy();
    const stderr = (err as { stderr?: string }).stderr;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${(err as Error).message}: scripts/setup.sh --test installs iproute2 and iptables`);
    throw new Error(`building the namespaces failed: ${(err as Error).message}${stderr ? `: ${stderr}` : ''}`);
  }
  return {
    bridgeIp: ip('1.1'), bridgeNatIp: ip('3.2'), publicIp: ip('2.1'), deadIp: ip('2.99'), viewerIp: ip('100.2'), viewerNatIp: ip('2.2'),
    ns,
    setBridgeNat: (mode) => masquerade(ns.bridgeNat, `${p}b2`, mode === 'symmetric' ? ['--random-fully'] : []),
    publishUdp: (range) => {
      const rule = ['PREROUTING', '-i', `${p}b2`, '-p', 'udp', '--dport', `${range[0]}:${range[1]}`, '-j', 'DNAT', '--to-destination', ip('1.1')];
      inNs(ns.bridgeNat, 'iptables', ['-t', 'nat', '-A', ...rule]);
      let removed = false;
      const remove = () => {
        if (removed) return;
        removed = true;
        inNs(ns.bridgeNat, 'iptables', ['-t', 'nat', '-D', ...rule]);
      };
      undo.push(() => remove());
      return remove;
    },
    destroy,
  };
}
