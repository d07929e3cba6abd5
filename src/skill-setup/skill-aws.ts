/**
 * The AWS side of the skill: the function's execution role (IAM), the function (Lambda) with the
 * built proxy zip, and the Alexa Smart Home trigger naming the skill. Each step reads first and
 * writes only what differs, so a second run makes no creating or updating call.
 */
import {
  AttachRolePolicyCommand, CreateRoleCommand, DeleteRoleCommand, DetachRolePolicyCommand, GetRoleCommand, IAMClient, ListAttachedRolePoliciesCommand,
} from '@aws-sdk/client-iam';
import {
  AddPermissionCommand, CreateFunctionCommand, DeleteFunctionCommand, GetFunctionCommand, GetFunctionConfigurationCommand, GetPolicyCommand, LambdaClient,
  RemovePermissionCommand, UpdateFunctionCodeCommand, UpdateFunctionConfigurationCommand, type FunctionConfiguration,
} from '@aws-sdk/client-lambda';
import { setTimeout as delay } from 'node:timers/promises';
import { AwsSetupError, awsCall, isAwsNotFound, explainAwsError } from '../util/aws-errors.ts';
import { printable } from '../util/printable.ts';
import {
  ALEXA_SMART_HOME_PRINCIPAL, BASIC_EXECUTION_POLICY, codeSha256, FUNCTION_SETTINGS, LAMBDA_TRUST_POLICY, roleName, sameVariables, TRIGGER_STATEMENT_ID, triggerFor,
} from './skill-plan.ts';
import { LAMBDA_ENV_LIMIT_BYTES, envBytes } from '../relay-setup/relay-setup-plan.ts';

const PERMISSIONS_LISTED = 'README "Alexa in one command"';
/** IAM is eventually consistent: a role just made is not assumable by Lambda for several seconds. */
const ROLE_PROPAGATION_MS = 60_000;
const ACTIVE_DEADLINE_MS = 120_000;

export interface AwsTarget {
  region: string;
  /** Tests: a local fake (otherwise the SDK's own AWS_ENDPOINT_URL… and credential chain). */
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

export interface DeployedFunction {
  arn: string;
  environment: Record<string, string>;
  policy?: string;
}

const call = <T>(action: string, run: () => Promise<T>) => awsCall(action, PERMISSIONS_LISTED, run);

async function orUndefined<T>(action: string, run: () => Promise<T>): Promise<T | undefined> {
  try {
    return await run();
  } catch (err) {
    if (isAwsNotFound(err)) return undefined;
    throw explainAwsError(err, action, PERMISSIONS_LISTED);
  }
}

export class SkillAws {
  readonly #iam: IAMClient;
  readonly #lambda: LambdaClient;
  readonly #say: (line: string) => void;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(target: AwsTarget, say: (line: string) => void, sleep: (ms: number) => Promise<void> = (ms) => delay(ms)) {
    const client = { region: target.region, ...(target.endpoint && { endpoint: target.endpoint }), ...(target.credentials && { credentials: target.credentials }) };
    this.#iam = new IAMClient(client);
    this.#lambda = new LambdaClient(client);
    this.#say = say;
    this.#sleep = sleep;
  }

  /** The execution role: trusted by Lambda, allowed to write its logs. */
  async ensureRole(functionName: string): Promise<{ arn: string; created: boolean; writes: number }> {
    const name = roleName(functionName);
    const existing = await orUndefined('iam:GetRole', () => this.#iam.send(new GetRoleCommand({ RoleName: name })));
    let arn = existing?.Role?.Arn;
    let created = false;
    let writes = 0;
    if (!arn) {
      const made = await call('iam:CreateRole', () => this.#iam.send(new CreateRoleCommand({
        RoleName: name,
        AssumeRolePolicyDocument: JSON.stringify(LAMBDA_TRUST_POLICY),
        Description: 'Execution role of the porchlight skill Lambda (made by porchlight skill setup)',
      })));
      arn = made.Role?.Arn;
      if (!arn) throw new AwsSetupError('AWS_ERROR', 'iam:CreateRole returned no role ARN');
      created = true;
      writes++;
      this.#say(`✔ role ${name} created`);
    }
    const attached = await call('iam:ListAttachedRolePolicies', () => this.#iam.send(new ListAttachedRolePoliciesCommand({ RoleName: name })));
    if (!attached.AttachedPolicies?.some((p) => p.PolicyArn === BASIC_EXECUTION_POLICY)) {
      await call('iam:AttachRolePolicy', () => this.#iam.send(new AttachRolePolicyCommand({ RoleName: name, PolicyArn: BASIC_EXECUTION_POLICY })));
      writes++;
      this.#say(`✔ role ${name} may write the function's logs (AWSLambdaBasicExecutionRole)`);
    } else if (!created) {
      this.#say(`· role ${name} already in place`);
    }
    return { arn, created, writes };
  }

  async describe(functionName: string): Promise<DeployedFunction | undefined> {
    const found = await orUndefined('lambda:GetFunction', () => this.#lambda.send(new GetFunctionCommand({ FunctionName: functionName })));
    const configuration = found?.Configuration;
    if (!configuration?.FunctionArn) return undefined;
    const policy = await orUndefined('lambda:GetPolicy', () => this.#lambda.send(new GetPolicyCommand({ FunctionName: functionName })));
    return { arn: configuration.FunctionArn, environment: configuration.Environment?.Variables ?? {}, ...(policy?.Policy && { policy: policy.Policy }) };
  }

  /**
   * The function with this code and these settings: created when missing, its code updated when
   * the zip's hash differs, its settings when they differ; then waited for until Active.
   */
  async ensureFunction(options: { name: string; roleArn: string; zip: Buffer; environment: (current: Record<string, string>) => Record<string, string> }): Promise<{ arn: string; created: boolean; writes: number }> {
    const { name, roleArn, zip } = options;
    const found = await orUndefined('lambda:GetFunction', () => this.#lambda.send(new GetFunctionCommand({ FunctionName: name })));
    if (!found?.Configuration) {
      const environment = checkedEnvironment(options.environment({}));
      const made = await this.#createFunction(name, roleArn, zip, environment);
      this.#say(`✔ function ${name} created (Node.js 22, index.handler, 10 s)`);
      await this.#waitUntilReady(name);
      return { arn: checkedArn(made.FunctionArn), created: true, writes: 1 };
    }
    const current = found.Configuration;
    let writes = 0;
    if (current.CodeSha256 !== codeSha256(zip)) {
      await this.#waitUntilReady(name);
      await call('lambda:UpdateFunctionCode', () => this.#lambda.send(new UpdateFunctionCodeCommand({ FunctionName: name, ZipFile: zip })));
      this.#say(`✔ function ${name}: new code uploaded`);
      writes++;
    }
    const environment = checkedEnvironment(options.environment(current.Environment?.Variables ?? {}));
    const settingsDiffer = current.Runtime !== FUNCTION_SETTINGS.Runtime || current.Handler !== FUNCTION_SETTINGS.Handler || current.Timeout !== FUNCTION_SETTINGS.Timeout || current.Role !== roleArn;
    if (settingsDiffer || !sameVariables(current.Environment?.Variables ?? {}, environment)) {
      await this.#waitUntilReady(name);
      await call('lambda:UpdateFunctionConfiguration', () => this.#lambda.send(new UpdateFunctionConfigurationCommand({
        FunctionName: name, ...FUNCTION_SETTINGS, Role: roleArn, Environment: { Variables: environment },
      })));
      this.#say(`✔ function ${name}: settings updated${settingsDiffer ? '' : ' (environment)'}`);
      writes++;
    }
    if (writes > 0) await this.#waitUntilReady(name);
    else this.#say(`· function ${name} already up to date`);
    return { arn: checkedArn(current.FunctionArn), created: false, writes };
  }

  /** Lets Alexa Smart Home invoke the function for this skill (the "Alexa Smart Home" trigger). */
  async ensureTrigger(functionName: string, skillId: string): Promise<boolean> {
    const policy = await orUndefined('lambda:GetPolicy', () => this.#lambda.send(new GetPolicyCommand({ FunctionName: functionName })));
    const trigger = triggerFor(policy?.Policy, skillId);
    if (trigger.present) {
      this.#say(`· Alexa Smart Home trigger for ${skillId} already on ${functionName}`);
      return false;
    }
    if (trigger.otherSkill) {
      // Left by an earlier skill (deleted and made again): it names the wrong skill id.
      await call('lambda:RemovePermission', () => this.#lambda.send(new RemovePermissionCommand({ FunctionName: functionName, StatementId: TRIGGER_STATEMENT_ID })));
    }
    await call('lambda:AddPermission', () => this.#lambda.send(new AddPermissionCommand({
      FunctionName: functionName,
      StatementId: TRIGGER_STATEMENT_ID,
      Action: 'lambda:InvokeFunction',
      Principal: ALEXA_SMART_HOME_PRINCIPAL,
      EventSourceToken: skillId,
    })));
    this.#say(`✔ Alexa Smart Home trigger for ${skillId} added to ${functionName}`);
    return true;
  }

  async deleteFunction(name: string): Promise<boolean> {
    const gone = await orUndefined('lambda:DeleteFunction', () => this.#lambda.send(new DeleteFunctionCommand({ FunctionName: name })));
    return gone !== undefined;
  }

  async deleteRole(functionName: string): Promise<boolean> {
    const name = roleName(functionName);
    const attached = await orUndefined('iam:ListAttachedRolePolicies', () => this.#iam.send(new ListAttachedRolePoliciesCommand({ RoleName: name })));
    if (!attached) return false;
    for (const policy of attached.AttachedPolicies ?? []) {
      await call('iam:DetachRolePolicy', () => this.#iam.send(new DetachRolePolicyCommand({ RoleName: name, PolicyArn: policy.PolicyArn })));
    }
    await call('iam:DeleteRole', () => this.#iam.send(new DeleteRoleCommand({ RoleName: name })));
    return true;
  }

  close(): void {
    this.#iam.destroy();
    this.#lambda.destroy();
  }

  async #createFunction(name: string, roleArn: string, zip: Buffer, environment: Record<string, string>): Promise<FunctionConfiguration> {
    const until = Date.now() + ROLE_PROPAGATION_MS;
    for (;;) {
      try {
        return await this.#lambda.send(new CreateFunctionCommand({
          FunctionName: name, ...FUNCTION_SETTINGS, Role: roleArn, Code: { ZipFile: zip }, Environment: { Variables: environment },
        }));
      } catch (err) {
        const e = err as Error;
        if (e.name === 'InvalidParameterValueException' && /cannot be assumed/i.test(e.message) && Date.now() < until) {
          this.#say('· the new role is not usable by Lambda yet (IAM takes a few seconds): retrying');
          await this.#sleep(2_000);
          continue;
        }
        throw explainAwsError(err, 'lambda:CreateFunction', PERMISSIONS_LISTED);
      }
    }
  }

  /** Lambda refuses an update while the previous one is in progress: wait until it is Active and settled. */
  async #waitUntilReady(name: string): Promise<void> {
    const until = Date.now() + ACTIVE_DEADLINE_MS;
    for (;;) {
      const configuration = await call('lambda:GetFunctionConfiguration', () => this.#lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name })));
      if (configuration.State === 'Failed' || configuration.LastUpdateStatus === 'Failed') {
        throw new AwsSetupError('AWS_ERROR', `the function ${name} failed to deploy: ${configuration.StateReason ?? configuration.LastUpdateStatusReason ?? 'no reason given'}`);
      }
      if ((configuration.State ?? 'Active') === 'Active' && configuration.LastUpdateStatus !== 'InProgress') return;
      if (Date.now() >= until) throw new AwsSetupError('TIMEOUT', `the function ${name} was not Active after ${ACTIVE_DEADLINE_MS / 1000} s`);
      await this.#sleep(1_000);
    }
  }
}

/** The ARN goes into the manifest and onto the terminal: an ARN and nothing else. */
function checkedArn(arn: string | undefined): string {
  if (!arn || !/^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}$/.test(arn)) {
    throw new AwsSetupError('AWS_ERROR', `Lambda returned a function ARN of an unexpected shape ("${printable(arn ?? '', 120)}")`);
  }
  return arn;
}

function checkedEnvironment(variables: Record<string, string>): Record<string, string> {
  if (envBytes(variables) > LAMBDA_ENV_LIMIT_BYTES) {
    throw new AwsSetupError('ENV_TOO_LARGE', `the function's environment would be ${envBytes(variables)} bytes, over AWS's 4 KB: remove variables it no longer needs`);
  }
  return variables;
}
