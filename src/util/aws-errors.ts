/**
 * AWS refusals said so a user can act on them, for the setup commands (relay setup, skill setup):
 * a denied action names the permission; missing credentials name the standard ways to give them.
 */
import { CodedError } from './coded-error.ts';
import { printable } from './printable.ts';

export type AwsSetupErrorCode = 'ACCESS_DENIED' | 'NO_CREDENTIALS' | 'AWS_ERROR' | 'ENV_TOO_LARGE' | 'TIMEOUT';

export class AwsSetupError extends CodedError<AwsSetupErrorCode> {}

interface AwsErrorShape {
  name?: string;
  message: string;
  $metadata?: { httpStatusCode?: number };
}

/** `where` says where the needed permissions are listed, e.g. `README "No port forwarding"`. */
export function explainAwsError(err: unknown, action: string, where: string): AwsSetupError {
  if (err instanceof AwsSetupError) return err;
  const e = err as AwsErrorShape;
  const name = e.name ?? '';
  if (/AccessDenied|Unauthorized|Forbidden/i.test(name) || e.$metadata?.httpStatusCode === 403) {
    return new AwsSetupError('ACCESS_DENIED', `AWS refused ${action}: the credentials need the ${action} permission (see ${where} for the list)`);
  }
  if (/CredentialsProviderError|Could not load credentials/i.test(`${name} ${e.message}`)) {
    return new AwsSetupError('NO_CREDENTIALS', 'no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the SDK\'s standard credential chain)');
  }
  // AWS's words are not ours: no terminal escapes, no fake lines, nothing PEM-shaped.
  return new AwsSetupError('AWS_ERROR', `${action} failed: ${name ? `${printable(name, 100)}: ` : ''}${printable(String(e.message ?? ''))}`);
}

/** Runs one AWS call; a failure becomes an AwsSetupError naming `action`. */
export async function awsCall<T>(action: string, where: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw explainAwsError(err, action, where);
  }
}

export function isAwsNotFound(err: unknown): boolean {
  const e = err as AwsErrorShape;
  return e.name === 'ResourceNotFoundException' || e.name === 'NoSuchEntity' || e.name === 'NoSuchEntityException' || e.$metadata?.httpStatusCode === 404;
}
