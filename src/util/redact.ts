/**
 * The one redactor: every log line, ffmpeg argument, stderr line and error text that may hold a
 * camera password, a token or a secret goes through here before anyone sees it.
 */

const CENSOR = '***';

// Everything up to the first `/` (or whitespace, quote, bracket) after `scheme://`: a password
// may hold `@`, `:`, `?` or `#` written raw, so the authority is not cut at those.
const URL_AUTHORITY = /([a-z][a-z0-9+.-]*:\/\/)([^/\s'"<>()[\]{}]*)/gi;

/** Query and form keys whose values are secrets: `?password=…`, `&pwd=…`, `code=…` (OAuth). */
const SECRET_QUERY = /((?:^|[?&;])(?:password|passwd|pass|pwd|token|access_token|refresh_token|secret|client_secret|key|api_key|apikey|auth|authkey|code|credential|credentials)=)[^&;\s'"]*/gi;

/** `password: x`, `"token":"x"`, `secret=x` in free text (messages, SOAP faults, JSON bodies). */
const SECRET_FIELD = /(\b(?:password|passwd|pwd|token|access_token|refresh_token|secret|client_secret|credential)["']?\s*[:=]\s*["']?)[^"'\s,&;}]+/gi;

/** `Authorization: Bearer x` / `Basic x` (the latter is user:password in base64). */
const AUTH_SCHEME = /(\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=|-]+/gi;

/**
 * Replaces the password of every URL in the text, keeping the user: `rtsp://admin:***@host/…`.
 * The password ends at the last `@` of the authority, as ffmpeg splits it, so a raw `@` or `:` in
 * a password does not leak its tail.
 */
export function redactUrlPasswords(text: string): string {
  return text.replace(URL_AUTHORITY, (whole, scheme: string, authority: string) => {
    const at = authority.lastIndexOf('@');
    if (at < 0) return whole;
    const userinfo = authority.slice(0, at);
    const colon = userinfo.indexOf(':');
    if (colon < 0) return whole;
    return `${scheme}${userinfo.slice(0, colon)}:${CENSOR}${authority.slice(at)}`;
  });
}

/** URL passwords, secret query values, `key=value` secrets and Authorization credentials in any text. */
export function redactSecrets(text: string): string {
  return redactUrlPasswords(text)
    .replace(SECRET_QUERY, `$1${CENSOR}`)
    .replace(AUTH_SCHEME, `$1${CENSOR}`)
    .replace(SECRET_FIELD, `$1${CENSOR}`);
}

/** A URL without its `user:password@`, for URLs we log or send on (RTSP control URLs). */
export function withoutUserinfo(url: string): string {
  return url.replace(URL_AUTHORITY, (whole, scheme: string, authority: string) => {
    const at = authority.lastIndexOf('@');
    return at < 0 ? whole : scheme + authority.slice(at + 1);
  });
}
