import {closeMatch} from '../suggest.js'

import type {Dag} from '../dag/model.js'
import {UpdraftError} from '../errors.js'
import {type CalendarDateTime, parseDateTime} from '../schedule/logical-date.js'
import {dateSelectionFrom, type DateSelection} from '../schedule/resolve-dates.js'

/** Which static partition keys a backfill runs (README "Partitions"): all of them, a list, or an inclusive range in declared order. */
export type KeySelection =
  | {from: null | string; kind: 'range'; to: null | string}
  | {keys: string[]; kind: 'list'}

/** The selection flags as typed: the Airflow date flags already parsed, the Dagster spellings still as text. */
export interface SelectionFlags {
  date?: CalendarDateTime | undefined
  endDate?: CalendarDateTime | undefined
  from?: string | undefined
  logicalDates?: CalendarDateTime[] | undefined
  /** `--partitions`, comma lists flattened. */
  partitions?: string[] | undefined
  startDate?: CalendarDateTime | undefined
  to?: string | undefined
}

/** What a backfill runs over: dates (null for a key-only DAG) and, on a partitioned DAG, keys. */
export interface RunSelection {
  dates: DateSelection | null
  keys: KeySelection
}

const ALL_KEYS: KeySelection = {from: null, kind: 'range', to: null}

/**
 * Reads the selection flags the way the DAG gives them meaning (README "Partitions"): on a DAG without partitions the Dagster
 * spellings `--partitions`/`--from`/`--to` name dates; with partitions they name keys; a key-only DAG takes no
 * date at all.
 */
export function runSelectionFrom(dag: Dag, flags: SelectionFlags): RunSelection {
  const keyFlags = [flags.partitions && flags.partitions.length > 0 && '--partitions', flags.from !== undefined && '--from', flags.to !== undefined && '--to'].filter(
    (flag): flag is string => typeof flag === 'string',
  )
  const dateFlags = [flags.startDate && '-s/--start-date', flags.endDate && '-e/--end-date', flags.logicalDates && flags.logicalDates.length > 0 && '-l/--logical-dates', flags.date && '-D/--date'].filter(
    (flag): flag is string => typeof flag === 'string',
  )
  if (keyFlags.includes('--partitions') && keyFlags.length > 1) {
    throw new UpdraftError('MIXED_SELECTION_FLAGS', `Expected either --partitions or --from/--to, got ${keyFlags.join(' and ')}.`, {exit: 2})
  }

  if (dag.partitions.length === 0) {
    if (keyFlags.length === 0) return {dates: dateSelectionFrom(flags), keys: ALL_KEYS}
    if (dateFlags.length > 0) {
      throw new UpdraftError(
        'MIXED_SELECTION_FLAGS',
        `Expected dates either as ${keyFlags.join('/')} or as ${dateFlags.join('/')} (DAG ${dag.dagId} has no partitions, so both name dates), got both.`,
        {exit: 2},
      )
    }

    if (flags.to !== undefined && flags.from === undefined) {
      throw new UpdraftError('MISSING_DATES', `Expected --from with --to (DAG ${dag.dagId} has no partitions, so they are -s/-e), got only --to ${flags.to}.`, {exit: 2})
    }

    if (flags.partitions && flags.partitions.length > 0) {
      return {dates: {dates: flags.partitions.map((date) => parseDateTime(date, '--partitions')), flag: '--partitions', kind: 'list'}, keys: ALL_KEYS}
    }

    const start = parseDateTime(flags.from as string, '--from')
    return {dates: {end: flags.to === undefined ? null : parseDateTime(flags.to, '--to'), flags: {end: '--to', start: '--from'}, kind: 'range', start}, keys: ALL_KEYS}
  }

  const keys: KeySelection = flags.partitions && flags.partitions.length > 0 ? {keys: flags.partitions, kind: 'list'} : {from: flags.from ?? null, kind: 'range', to: flags.to ?? null}
  if (isKeyOnly(dag)) {
    if (dateFlags.length > 0) {
      throw new UpdraftError(
        'DATES_ON_KEY_ONLY_DAG',
        `Expected --partitions or --from/--to for DAG ${dag.dagId}, which has partition keys and no schedule, got ${dateFlags.join(', ')}.`,
        {exit: 2, suggestions: [`--partitions ${dag.partitions.slice(0, 2).join(',')}`]},
      )
    }

    return {dates: null, keys}
  }

  return {dates: dateSelectionFrom(flags), keys}
}

/** A DAG whose runs are its partition keys alone: `schedule_interval: null` with `partitions`. */
export function isKeyOnly(dag: Pick<Dag, 'partitions' | 'schedule'>): boolean {
  return dag.partitions.length > 0 && dag.schedule.kind === 'none' && dag.schedule.source === 'null'
}

/** The selected keys in declared order, or `[null]` for a DAG without partitions. */
export function resolvePartitionKeys(dag: Pick<Dag, 'dagId' | 'partitions'>, selection: KeySelection): Array<null | string> {
  if (dag.partitions.length === 0) return [null]
  if (selection.kind === 'list') {
    const asked = new Set(selection.keys.map((key) => knownKey(dag, key, '--partitions')))
    return dag.partitions.filter((key) => asked.has(key))
  }

  const from = selection.from === null ? 0 : dag.partitions.indexOf(knownKey(dag, selection.from, '--from'))
  const to = selection.to === null ? dag.partitions.length - 1 : dag.partitions.indexOf(knownKey(dag, selection.to, '--to'))
  if (from > to) {
    throw new UpdraftError(
      'PARTITION_RANGE_INVERTED',
      `Expected --from to come before --to in ${dag.dagId}'s partition order (${dag.partitions.join(', ')}), got ${selection.from} after ${selection.to}.`,
      {exit: 2},
    )
  }

  return dag.partitions.slice(from, to + 1)
}

function knownKey(dag: Pick<Dag, 'dagId' | 'partitions'>, key: string, flag: string): string {
  if (dag.partitions.includes(key)) return key
  const guess = closeMatch(key, dag.partitions)
  throw new UpdraftError(
    'UNKNOWN_PARTITION',
    `Expected ${flag} to name a partition key of ${dag.dagId} (${dag.partitions.join(', ')}), got "${key}"${guess === null ? '' : `; did you mean "${guess}"?`}.`.replace('?.', '?'),
    {exit: 2, suggestions: guess === null ? [] : [`${flag} ${guess}`]},
  )
}
