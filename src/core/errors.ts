/** Stable identifiers that tests and scripts match on; never rename one. */
export type ErrorCode =
  | 'BACKFILL_LOCKED'
  | 'BACKFILL_NOT_FOUND'
  | 'BACKFILL_NOT_RUNNING'
  | 'BACKFILL_NOT_STARTED'
  | 'BACKFILL_RUNNING'
  | 'COMMAND_NOT_FOUND'
  | 'CONFIRMATION_DECLINED'
  | 'CONFIRMATION_REQUIRED'
  | 'DAG_CYCLE'
  | 'DAG_DUPLICATE_ID'
  | 'DAG_DUPLICATE_TASK'
  | 'DAG_INVALID_DATE'
  | 'DAG_INVALID_SCHEDULE'
  | 'DAG_INVALID_TASK'
  | 'DAG_INVALID_TEMPLATE'
  | 'DAG_INVALID_TIMEZONE'
  | 'DAG_IMPORT_ERROR'
  | 'DAG_INVALID_VALUE'
  | 'DAG_MISSING_KEY'
  | 'DAG_MISSING_UPSTREAM'
  | 'DAG_NO_DEFAULT_EXPORT'
  | 'DAG_NOT_FOUND'
  | 'DAG_SYNTAX_ERROR'
  | 'DAG_UNKNOWN_KEY'
  | 'DAGS_FOLDER_UNREADABLE'
  | 'DATE_NOT_A_TICK'
  | 'DATE_RANGE_INVERTED'
  | 'DATES_ON_KEY_ONLY_DAG'
  | 'DB_COPY_SOURCE_EMPTY'
  | 'DB_COPY_TARGET_NOT_EMPTY'
  | 'INVALID_BATCH_SIZE'
  | 'INVALID_CONF'
  | 'INVALID_DATE'
  | 'INVALID_POOL'
  | 'INVALID_REGEX'
  | 'MISSING_DATES'
  | 'NOTHING_TO_RUN'
  | 'MIXED_SELECTION_FLAGS'
  | 'NO_TASK_MATCHES'
  | 'PAGE_NOT_FOUND'
  | 'PARTITION_RANGE_INVERTED'
  | 'POOL_PROTECTED'
  | 'POOL_TOO_SMALL'
  | 'PORT_IN_USE'
  | 'RUN_BACKWARDS_WITH_DEPENDS_ON_PAST'
  | 'REDIS_UNREACHABLE'
  | 'RUN_NOT_FOUND'
  | 'SCHEDULE_NOT_PERIODIC'
  | 'STATE_FILE_CORRUPT'
  | 'STATE_FILE_UNREADABLE'
  | 'STATE_FILE_UNWRITABLE'
  | 'STATE_DB_UNREACHABLE'
  | 'STATE_SCHEMA_TOO_NEW'
  | 'TASK_NOT_FOUND'
  | 'UNKNOWN_PARTITION'
  | 'UNKNOWN_POOL'
  | 'USAGE'
  | 'WEBSERVER_FAILED'

/** 2 means the command line itself is wrong; 1 means updraft could not proceed with it. */
export type ErrorExit = 1 | 2

const BRAND = Symbol.for('updraft.error')

/** An error the user can fix; `code` is stable and `message` says what was expected and what was received. */
export class UpdraftError extends Error {
  readonly [BRAND] = true
  readonly code: ErrorCode
  readonly exit: ErrorExit
  readonly suggestions: string[]
  /** The message as written here; oclif's flag parser prefixes `message` with its own text. */
  readonly summary: string

  constructor(code: ErrorCode, message: string, options: {exit?: ErrorExit; suggestions?: string[]} = {}) {
    super(message)
    this.name = 'UpdraftError'
    this.code = code
    this.exit = options.exit ?? 1
    this.suggestions = options.suggestions ?? []
    this.summary = message
  }
}

/** True for an UpdraftError from any module registry (jest and oclif may load this file twice). */
export function isUpdraftError(value: unknown): value is UpdraftError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true
}

/** STATE_FILE_UNWRITABLE for a failed attempt to `purpose`; an UpdraftError already says what went wrong. */
export function stateUnwritable(purpose: string, error: unknown): UpdraftError {
  if (isUpdraftError(error)) return error
  return new UpdraftError('STATE_FILE_UNWRITABLE', `Expected to ${purpose}, got ${systemErrorText(error)}`)
}

/** A system error as "ENOENT: no such file or directory, …": Node's messages start with their code, said once. */
export function systemErrorText(error: unknown): string {
  const {code} = error as NodeJS.ErrnoException
  return `${code ?? 'an error'}: ${(error as Error).message.replace(/^[A-Z]+: /, '')}`
}

/** Marks a switch branch that the type checker proves cannot happen. */
export function unreachable(value: never): never {
  throw new Error(`unreachable: ${JSON.stringify(value)}`)
}
