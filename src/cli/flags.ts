import {Flags} from '@oclif/core'

import {UpdraftError} from '../core/errors.js'
import {parseConf, parsePositiveInteger, parseRegex} from '../core/typed-input.js'
import type {SelectionFlags} from '../core/run/selection.js'
import {type CalendarDateTime, parseDateTime} from '../core/schedule/logical-date.js'

/** A calendar date or date-time; its instant depends on the DAG's zone, so it is resolved later. */
export const dateFlag = Flags.custom<CalendarDateTime>({
  helpValue: 'DATE',
  async parse(input, _context, flag) {
    return parseDateTime(input, `--${flag.name}`)
  },
})

/** A comma-separated list of dates; the flag may also repeat. */
export const dateListFlag = Flags.custom<CalendarDateTime[]>({
  helpValue: 'DATE[,DATE…]',
  multiple: true,
  async parse(input, _context, flag) {
    return input
      .split(',')
      .filter((part) => part.trim() !== '')
      .map((part) => parseDateTime(part, `--${flag.name}`))
  },
})

/** A comma-separated list of words (partition keys, or dates on a DAG without partitions); the flag may repeat. */
export const wordListFlag = Flags.custom<string[]>({
  helpValue: 'KEY[,KEY…]',
  multiple: true,
  async parse(input) {
    return input
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part !== '')
  },
})

/** `--batch-size`: dates per run, an integer of at least 1 or `all` (null: every stretch of dates in one run). */
export const batchSizeFlag = Flags.custom<null | number>({
  helpValue: 'N|all',
  async parse(input, _context, flag) {
    const text = input.trim()
    if (text === 'all') return null
    if (/^\d+$/.test(text) && Number.isSafeInteger(Number(text)) && Number(text) >= 1) return Number(text)
    throw new UpdraftError('INVALID_BATCH_SIZE', `Expected --${flag.name} to be an integer of at least 1 or "all", got "${input}".`, {exit: 2})
  },
})

/** The partition key of one run, for commands that look a run up. */
export const partitionFlag = Flags.custom<string>({
  char: 'p',
  helpValue: 'KEY',
  summary: 'Partition key of the run, on a partitioned DAG.',
})

/** A JavaScript regular expression, compiled once. */
export const regexFlag = Flags.custom<RegExp>({
  helpValue: 'REGEX',
  async parse(input, _context, flag) {
    return parseRegex(input, `--${flag.name}`)
  },
})

/** A JSON object, merged into the DAG's params. */
export const jsonObjectFlag = Flags.custom<Record<string, unknown>>({
  helpValue: 'JSON',
  async parse(input, _context, flag) {
    return parseConf(input, `--${flag.name}`)
  },
})

/** A positive integer. */
export const positiveIntegerFlag = Flags.custom<number>({
  helpValue: 'N',
  async parse(input, _context, flag) {
    return parsePositiveInteger(input, `--${flag.name}`)
  },
})

/** The DAGs folder: flag > UPDRAFT_DAGS_FOLDER > ./dags. */
export const dagsFolderFlag = Flags.custom<string>({
  default: 'dags',
  env: 'UPDRAFT_DAGS_FOLDER',
  helpValue: 'PATH',
  summary: 'Folder of DAG files (default ./dags).',
})

/** The state store: flag > UPDRAFT_DB > ./.updraft/db.json. */
export const dbFlag = Flags.custom<string>({
  default: '.updraft/db.json',
  env: 'UPDRAFT_DB',
  helpValue: 'PATH|URL',
  summary: 'State store: the embedded store\'s file (default ./.updraft/db.json) or a postgresql:// URL.',
})

/** Which dates (and, on a partitioned DAG, keys) a command covers: Airflow's date flags and Dagster's spellings. */
export const selectionFlags = {
  date: dateFlag({char: 'D', exclusive: ['start-date', 'end-date', 'logical-dates'], summary: 'Run exactly one logical date (same as -l DATE).'}),
  'end-date': dateFlag({char: 'e', dependsOn: ['start-date'], summary: 'Last logical date, inclusive (default: the start date).'}),
  from: Flags.string({helpValue: 'KEY|DATE', summary: 'First partition key, inclusive; on a DAG without partitions, the same as -s.'}),
  'logical-dates': dateListFlag({char: 'l', exclusive: ['start-date', 'end-date'], summary: "Run exactly these logical dates (comma list, repeatable); not Airflow's --local."}),
  partitions: wordListFlag({summary: 'Run exactly these partition keys (comma list, repeatable); on a DAG without partitions, the same as -l.'}),
  'start-date': dateFlag({char: 's', summary: 'First logical date, inclusive, e.g. 2024-01-01 or 2024-01-01T06:00.'}),
  to: Flags.string({helpValue: 'KEY|DATE', summary: 'Last partition key, inclusive; on a DAG without partitions, the same as -e.'}),
}

/** The selection flags as the core reads them; a repeated list flag arrives as a list per occurrence. */
export function selectionOf(flags: {
  date?: CalendarDateTime | undefined
  'end-date'?: CalendarDateTime | undefined
  from?: string | undefined
  'logical-dates'?: CalendarDateTime[] | undefined
  partitions?: string[] | undefined
  'start-date'?: CalendarDateTime | undefined
  to?: string | undefined
}): SelectionFlags {
  return {
    date: flags.date,
    endDate: flags['end-date'],
    from: flags.from,
    logicalDates: flags['logical-dates']?.flat(),
    partitions: flags.partitions?.flat(),
    startDate: flags['start-date'],
    to: flags.to,
  }
}

/** Where a backfill's tries run, and the Redis and queue of `--executor bullmq` (shared with `updraft worker`). */
export const redisFlags = {
  queue: Flags.string({default: 'updraft', env: 'UPDRAFT_QUEUE', helpValue: 'NAME', summary: 'BullMQ queue (key prefix) that backfills and workers share.'}),
  'redis-url': Flags.string({default: 'redis://127.0.0.1:6379', env: 'UPDRAFT_REDIS_URL', helpValue: 'URL', summary: 'Redis for --executor bullmq: redis://HOST:PORT or unix:///PATH.'}),
}

export const executorFlags = {
  ...redisFlags,
  executor: Flags.string({default: 'local', env: 'UPDRAFT_EXECUTOR', options: ['local', 'bullmq'], summary: 'Run tries here (local) or on updraft worker processes over Redis (bullmq).'}),
}

/** The executor the flags choose. */
export function executorOf(flags: {executor: string; queue: string; 'redis-url': string}): {kind: 'bullmq'; queue: string; url: string} | {kind: 'local'} {
  return flags.executor === 'bullmq' ? {kind: 'bullmq', queue: flags.queue, url: flags['redis-url']} : {kind: 'local'}
}
