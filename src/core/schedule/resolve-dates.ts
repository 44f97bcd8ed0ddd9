import {UpdraftError} from '../errors.js'
import {type CalendarDateTime, dateLabeler, type DateLabeler, labelAsArgument, toInstant, toUtcIso} from './logical-date.js'
import {createTimetable, type Schedule, type Timetable, ticksAtMidnight} from './timetable.js'

/** Which logical dates the user asked for: an inclusive range (`-s`/`-e`) or an explicit list (`-l`/`-D`). */
export type DateSelection =
  | {end: CalendarDateTime | null; /** As typed, for messages, when not -s/-e. */ flags?: {end: string; start: string}; kind: 'range'; start: CalendarDateTime}
  | {dates: CalendarDateTime[]; /** As typed, for messages. */ flag: '--date' | '--logical-dates' | '--partitions' | 'Dates'; kind: 'list'}

/** The date flags as given: `-D`, `-l` (flattened), `-s`, `-e`; flag relations were already checked by the parser. */
export interface DateFlags {
  date?: CalendarDateTime | undefined
  endDate?: CalendarDateTime | undefined
  logicalDates?: CalendarDateTime[] | undefined
  startDate?: CalendarDateTime | undefined
}

/** Turns the date flags into a selection, refusing a command that names no dates at all. */
export function dateSelectionFrom(flags: DateFlags): DateSelection {
  if (flags.date) return {dates: [flags.date], flag: '--date', kind: 'list'}
  if (flags.logicalDates && flags.logicalDates.length > 0) return {dates: flags.logicalDates, flag: '--logical-dates', kind: 'list'}
  if (flags.startDate) return {end: flags.endDate ?? null, kind: 'range', start: flags.startDate}
  throw new UpdraftError(
    'MISSING_DATES',
    'Expected logical dates via -s/--start-date [-e/--end-date], -l/--logical-dates, -D/--date, or --from/--to or --partitions on a DAG without partitions, got none.',
    {exit: 2},
  )
}

/** The schedule-related part of a DAG. */
export interface ScheduledDag {
  dagId: string
  /** UTC ISO instant, or null. */
  endDate: null | string
  schedule: Schedule
  /** UTC ISO instant; only a key-only DAG, which has no ticks, may have none. */
  startDate: null | string
  timezone: string
}

/** One data interval `[start, end)`; the logical date is its start. */
export interface DataInterval {
  end: Date
  start: Date
}

/** Why ticks inside the requested range were left out, counted. */
export interface ExcludedCounts {
  after_end_date: number
  before_start_date: number
  not_yet_due: number
}

/** The logical dates a backfill runs, oldest first, with what was excluded. */
export interface ResolvedDates {
  excluded: ExcludedCounts
  intervals: DataInterval[]
  /** Human description of what was asked, for messages: `2024-01-01 → 2024-01-31 (@daily, UTC)`. */
  requested: string
}

/** The timetable of a DAG, refusing schedules that have no ticks to backfill. */
export function timetableOf(dag: ScheduledDag): Timetable {
  const {schedule} = dag
  if (schedule.kind === 'none') {
    throw new UpdraftError(
      'SCHEDULE_NOT_PERIODIC',
      `Expected DAG ${dag.dagId} to have a periodic schedule to backfill, got schedule_interval ${schedule.source}.`,
      {exit: 2},
    )
  }

  return createTimetable(schedule, dag.timezone, anchorOf(dag))
}

/** Where the DAG's ticks start; every periodic DAG has a start_date (validation requires it). */
function anchorOf(dag: ScheduledDag): Date {
  return new Date(dag.startDate ?? 0)
}

/** How this DAG's logical dates read in human output: in its zone, the date alone when every tick is at midnight. */
export function labelerFor(dag: ScheduledDag): DateLabeler {
  return dateLabeler(dag.timezone, ticksAtMidnight(dag.schedule, dag.timezone, anchorOf(dag)))
}

/** Resolves the user's selection to data intervals, reading naive dates in the DAG's zone (README "Choosing dates and tasks"). */
export function resolveLogicalDates(dag: ScheduledDag, selection: DateSelection, now: Date): ResolvedDates {
  const timetable = timetableOf(dag)
  const zoneNote = `${dag.schedule.source}, ${dag.timezone}`
  let ticks: Date[]
  let requested: string
  if (selection.kind === 'range') {
    const end = selection.end ?? selection.start
    const from = toInstant(selection.start, dag.timezone)
    const to = toInstant(end, dag.timezone)
    if (from > to) {
      throw new UpdraftError(
        'DATE_RANGE_INVERTED',
        `Expected ${selection.flags?.start ?? '--start-date'} to be on or before ${selection.flags?.end ?? '--end-date'}, got ${selection.start.text} after ${end.text}.`,
        {exit: 2},
      )
    }

    ticks = timetable.ticksBetween(from, to)
    requested = `${selection.start.text} → ${end.text} (${zoneNote})`
  } else {
    const unique = new Map<number, Date>()
    for (const date of selection.dates) {
      const instant = toInstant(date, dag.timezone)
      if (timetable.ticksBetween(instant, instant).length === 0) throw notATick(dag, timetable, {date, flag: selection.flag, instant})
      unique.set(instant.getTime(), instant)
    }

    ticks = [...unique.values()].sort((a, b) => a.getTime() - b.getTime())
    requested = `${selection.dates.map((date) => date.text).join(', ')} (${zoneNote})`
  }

  const excluded: ExcludedCounts = {before_start_date: 0, after_end_date: 0, not_yet_due: 0}
  const intervals: DataInterval[] = []
  const startDate = anchorOf(dag)
  const endDate = dag.endDate === null ? null : new Date(dag.endDate)
  for (const [index, start] of ticks.entries()) {
    const following = ticks[index + 1]
    // Within a range the next tick is already at hand; only the last date (or a listed one) needs a lookup.
    const end = selection.kind === 'range' && following ? following : timetable.tickAfter(start)
    if (start < startDate) excluded.before_start_date++
    else if (endDate && start > endDate) excluded.after_end_date++
    else if (end > now) excluded.not_yet_due++
    else intervals.push({end, start})
  }

  return {excluded, intervals, requested}
}

function notATick(dag: ScheduledDag, timetable: Timetable, asked: {date: CalendarDateTime; flag: string; instant: Date}): UpdraftError {
  const labelOf = labelerFor(dag)
  const before = timetable.tickBefore(asked.instant)
  const after = timetable.tickAfter(asked.instant)
  const nearest = before ? [before, after] : [after]
  const described = [before && `${labelOf(toUtcIso(before))} (before)`, `${labelOf(toUtcIso(after))} (after)`].filter(Boolean).join(' and ')
  return new UpdraftError(
    'DATE_NOT_A_TICK',
    `Expected each ${asked.flag} value to be a tick of ${dag.dagId}'s schedule (${dag.schedule.source}, ${dag.timezone}), got ${asked.date.text}; nearest ticks: ${described}.`,
    {exit: 2, suggestions: nearest.map((tick) => `${asked.flag} ${labelAsArgument(labelOf(toUtcIso(tick)))}`)},
  )
}
