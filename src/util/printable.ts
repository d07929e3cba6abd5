/**
 * Text from someone else's API (AWS, SMAPI) made safe to print: no control characters (terminal
 * escapes, carriage returns that overwrite a line, newlines that fake one), nothing PEM-shaped (an
 * error that echoes a request's variables would otherwise print a private key), and a bound length.
 */
const PEM_BLOCK = /-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(?:-----END [A-Z0-9 ]+-----|$)/g;
// C0 and C1 controls and DEL; newlines and tabs become spaces.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const MAX_LENGTH = 1000;

export function printable(text: string, maxLength = MAX_LENGTH): string {
  const cleaned = text.replace(PEM_BLOCK, '[PEM removed]').replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '').replace(CONTROL, ' ').replace(/ {2,}/g, ' ').trim();
  return cleaned.length > maxLength ? `${cleaned.slice(0, maxLength)}…` : cleaned;
}

/** A DNS host name (what an AWS endpoint address must be before it goes into a URL or a config block). */
export function isHostName(value: string): boolean {
  return /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/.test(value);
}
