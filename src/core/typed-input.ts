import {UpdraftError} from './errors.js'

/**
 * Values a person types, read the same way wherever they are typed: a flag, a field of the web page's form, an
 * option of `backfill()`. `name` is what the message calls the field (`--conf`, `Conf`, `taskRegex`).
 */

export function parseRegex(source: string, name: string): RegExp {
  try {
    return new RegExp(source)
  } catch (error) {
    throw new UpdraftError('INVALID_REGEX', `Expected ${name} to be a valid regular expression, got "${source}": ${(error as Error).message}`, {exit: 2})
  }
}

/** A JSON object, merged into the DAG's params. */
export function parseConf(text: string, name: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw new UpdraftError('INVALID_CONF', `Expected ${name} to be a JSON object like '{"region":"us"}', got ${JSON.stringify(text)}: ${(error as Error).message}`, {exit: 2})
  }

  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UpdraftError('INVALID_CONF', `Expected ${name} to be a JSON object like '{"region":"us"}', got ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}.`, {exit: 2})
  }

  return value as Record<string, unknown>
}

export function parsePositiveInteger(text: string, name: string): number {
  const value = Number(text)
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < 1) {
    throw new UpdraftError('USAGE', `Expected ${name} to be a positive integer, got "${text}".`, {exit: 2})
  }

  return value
}
