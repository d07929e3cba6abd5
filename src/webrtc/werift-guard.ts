import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * porchlight runs werift 0.25 with patches/werift+0.25.2.patch (spoofed DTLS records, STUN without
 * credentials, datagrams from other addresses, bounded TURN allocation: see patches/README.md),
 * applied by patch-package in the `postinstall` script. An install that skips it fails silently:
 * `npm ci --ignore-scripts`, or a Docker build that does not copy patches/ before `npm ci`
 * (patch-package then finds no patch files and succeeds). This tells whether the werift that
 * Node loads carries every change of the patch, not just one of them.
 */

/** The first line of the comment that marks each change in the ESM bundle Node loads (lib/index.mjs). */
export const WERIFT_PATCH_MARKERS = [
  'porchlight patch: from epoch 1 on an alert is encrypted. Decrypt (authenticate) it',
  'porchlight patch: a record of unknown content type is discarded (RFC 6347 4.1.2.7);',
  'porchlight patch: once the handshake is over, epoch-0 records are plaintext that anyone',
  'porchlight patch: `signal` aborts the ALLOCATE transaction (gathering\'s deadline passed).',
  'porchlight patch: remote candidates one ICE agent keeps (signalled and peer-reflexive).',
  'porchlight patch: RFC 8445 7.3. Only a request whose USERNAME starts with a local ufrag and',
  'porchlight patch: no new peer-reflexive candidate past MAX_REMOTE_CANDIDATES.',
  'porchlight patch: DTLS/SRTP is taken only from the selected pair\'s remote address',
  'porchlight patch: see onDataReceived in ensureProtocol.',
  'porchlight patch: the whole TURN allocation (DNS, UDP, the TCP fallback) is bounded by',
  'porchlight patch: TURN allocations still running are aborted (see getCandidatePromises).',
  'porchlight patch: see MAX_REMOTE_CANDIDATES.',
  'porchlight patch: see MAX_REMOTE_CANDIDATES (early checks are counted here).',
  'porchlight patch: the local password that authenticates a STUN request (USERNAME',
] as const;

export interface WeriftPatchCheck {
  patched: boolean;
  /** Markers of changes the loaded werift lacks. */
  missing: string[];
}

/** Which of the patch's changes `source` (by default the werift bundle Node resolves) lacks. Reads a file: call once. */
export function checkWeriftPatch(source: string = readFileSync(fileURLToPath(import.meta.resolve('werift')), 'utf8')): WeriftPatchCheck {
  const missing = WERIFT_PATCH_MARKERS.filter((marker) => !source.includes(marker));
  return { patched: missing.length === 0, missing };
}

/** The message to log (and fail on) when werift was installed without porchlight's patch. */
export function unpatchedWeriftMessage(check: WeriftPatchCheck): string {
  return `werift is not patched (patches/werift+0.25.2.patch; ${check.missing.length} of ${WERIFT_PATCH_MARKERS.length} changes missing): `
    + 'a single spoofed datagram could end a live view. Reinstall with scripts (npm ci, which runs patch-package), with patches/ present.';
}
