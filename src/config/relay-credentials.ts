import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** The `relay:` section, paths made absolute by the config loader. */
export interface RelayConfig {
  url: string;
  bridgeId: string;
  cert: string;
  key: string;
  ca?: string;
}

export interface RelayCredentials {
  cert: string;
  key: string;
  ca?: string;
}

/**
 * Reads the relay's certificate, key and CA, and checks they can work before anything dials out:
 * each file readable PEM, the key the certificate's own, the certificate not expired. Every
 * problem names the config field; no PEM text is ever put in a message.
 */
export function loadRelayCredentials(relay: RelayConfig, now = new Date()): { credentials?: RelayCredentials; problems: string[] } {
  const problems: string[] = [];
  const read = (field: 'cert' | 'key' | 'ca', path: string): string | undefined => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problems.push(`relay.${field}: cannot read ${path} (${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code ?? 'error'})`);
      return undefined;
    }
  };
  const certText = read('cert', relay.cert);
  const keyText = read('key', relay.key);
  const caText = relay.ca === undefined ? undefined : read('ca', relay.ca);
  let certificate: X509Certificate | undefined;
  if (certText !== undefined) {
    try {
      certificate = new X509Certificate(certText);
      if (new Date(certificate.validTo) < now) problems.push(`relay.cert: the certificate expired on ${certificate.validTo}`);
    } catch {
      problems.push(`relay.cert: ${relay.cert} is not a PEM certificate`);
    }
  }
  if (keyText !== undefined) {
    try {
      const key = createPrivateKey(keyText);
      if (certificate && !certificate.checkPrivateKey(key)) problems.push(`relay.key: ${relay.key} is not the key of the certificate in relay.cert`);
    } catch {
      problems.push(`relay.key: ${relay.key} is not a PEM private key (or it is encrypted)`);
    }
  }
  if (caText !== undefined) {
    try {
      new X509Certificate(caText);
    } catch {
      problems.push(`relay.ca: ${relay.ca} is not a PEM certificate`);
    }
  }
  if (problems.length > 0 || certText === undefined || keyText === undefined) return { problems };
  return { credentials: { cert: certText, key: keyText, ...(caText !== undefined && { ca: caText }) }, problems };
}
