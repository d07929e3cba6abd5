import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import AjvDraft04 from 'ajv-draft-04';
import addFormats from 'ajv-formats';

/**
 * Amazon's validation schema for everything a skill sends to Alexa (test/alexa-schema, copied
 * from alexa-samples/alexa-smarthome). The recipe that works: ajv draft-04, strict off,
 * unicodeRegExp off, ajv-formats plus int32/double.
 */
const schemaPath = fileURLToPath(new URL('../alexa-schema/alexa_smart_home_message_schema.json', import.meta.url));
// Both are CommonJS modules whose class is also their `default` export.
const ajv = new AjvDraft04.default({ strict: false, unicodeRegExp: false, allErrors: false });
addFormats.default(ajv);
ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -2147483648 && n <= 2147483647 });
ajv.addFormat('double', { type: 'number', validate: (n: number) => Number.isFinite(n) });
const validate = ajv.compile(JSON.parse(readFileSync(schemaPath, 'utf8')));

export function alexaSchemaErrors(message: unknown): string[] {
  if (validate(message)) return [];
  return (validate.errors ?? []).slice(0, 10).map((e: { instancePath: string; message?: string }) => `${e.instancePath || '/'} ${e.message ?? ''}`);
}

/** Fails the test when `message` is not a valid Alexa smart-home message. */
export function assertValidAlexaMessage(message: unknown): void {
  const errors = alexaSchemaErrors(message);
  assert.deepEqual(errors, [], `not a valid Alexa message:\n${JSON.stringify(message, null, 2).slice(0, 3000)}`);
}
