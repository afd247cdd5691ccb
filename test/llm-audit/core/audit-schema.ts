/** The audit record's JSON Schema compiled in Ajv's strict mode, for the record tests. */
import fs = require('fs');
import path = require('path');
import Ajv from 'ajv';

const FILE = path.join(__dirname, '../../../schemas/audit/llm-audit-record.v1.json');

const ajv = new Ajv({ strict: true, allErrors: true });
export const validateRecord = ajv.compile(JSON.parse(fs.readFileSync(FILE, 'utf8')));

/** `true` when `record` validates, else Ajv's errors (for a readable failure). */
export function schemaCheck(record: unknown): true | unknown {
  return validateRecord(record) ? true : validateRecord.errors;
}
