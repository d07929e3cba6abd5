import { Connection } from 'werift';

/**
 * porchlight runs werift 0.25 with patches/werift+0.25.2.patch (spoofed DTLS records, STUN without
 * credentials, datagrams from other addresses: see patches/README.md), applied by patch-package in
 * the `postinstall` script. An install that skips it fails silently: `npm ci --ignore-scripts`,
 * or a Docker build that does not copy patches/ before `npm ci` (patch-package then finds no patch
 * files and succeeds). This tells whether the werift that Node loaded carries the patch.
 */
export function weriftPatched(): boolean {
  return typeof (Connection.prototype as unknown as Record<string, unknown>).isPeerAddress === 'function';
}

/** Throws, saying how to fix it, when werift was installed without porchlight's patch. */
export function assertWeriftPatched(): void {
  if (!weriftPatched()) {
    throw new Error('werift is not patched (patches/werift+0.25.2.patch): a single spoofed datagram could end a live view. '
      + 'Reinstall with scripts (npm ci, which runs patch-package), with patches/ present.');
  }
}
