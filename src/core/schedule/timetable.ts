import {CronExpressionParser} from 'cron-parser'
import {TZDate} from '@date-fns/tz'

import {durationToMs} from './duration.js'
import {wallClock} from './logical-date.js'

/** How a DAG's logical dates are laid out in time. */
export type Schedule =
  | {expression: string; kind: 'cron'; source: string}
  | {kind: 'interval'; ms: number; source: string}
  | {kind: 'none'; source: string}

const PRESETS: Record<string, string> = {
  '@annually': '0 0 1 1 *',
  '@daily': '0 0 * * *',
  '@hourly': '0 * * * *',
  '@midnight': '0 0 * * *',
  '@monthly': '0 0 1 * *',
  '@quarterly': '0 0 1 */3 *',
  '@weekly': '0 0 * * 0',
  '@yearly': '0 0 1 1 *',
}

const NOT_PERIODIC = new Set(['@continuous', '@once'])

/** Parses a `schedule_interval` value, or returns an error text saying what was expected. */
export function parseSchedule(value: unknown): {error: string} | {schedule: Schedule} {
  if (value === null) return {schedule: {kind: 'none', source: 'null'}}
  if (typeof value === 'string') {
    const text = value.trim()
    if (NOT_PERIODIC.has(text)) return {schedule: {kind: 'none', source: text}}
    if (/^P/i.test(text)) {
      const parsed = durationToMs(text)
      return 'error' in parsed ? parsed : intervalSchedule(parsed.ms, text)
    }

    const expression = PRESETS[text] ?? text
    if (text.startsWith('@') && !PRESETS[text]) {
      return {error: `expected a cron expression, a preset (${Object.keys(PRESETS).join(', ')}, @once) or a duration, got "${text}"`}
    }

    if (expression.split(/\s+/).length !== 5) {
      return {error: `expected a 5-field cron expression (minute hour day month weekday), got "${text}"`}
    }

    try {
      CronExpressionParser.parse(expression, {strict: false})
    } catch (error) {
      return {error: `invalid cron expression "${text}": ${(error as Error).message}`}
    }

    return {schedule: {expression, kind: 'cron', source: text}}
  }

  if (typeof value === 'object') {
    const parsed = durationToMs(value)
    return 'error' in parsed ? parsed : intervalSchedule(parsed.ms, JSON.stringify(value))
  }

  return {error: `expected a cron expression, a preset, a duration or null, got ${JSON.stringify(value)}`}
}

function intervalSchedule(ms: number, source: string): {error: string} | {schedule: Schedule} {
  return ms > 0 ? {schedule: {kind: 'interval', ms, source}} : {error: `expected a positive duration, got ${source}`}
}

/** The ticks of a periodic schedule in a zone; durations form a grid anchored at the DAG's start_date. */
export interface Timetable {
  /** Ticks `t` with `from <= t <= to`, oldest first. */
  ticksBetween(from: Date, to: Date): Date[]
  /** The first tick strictly after `instant`. */
  tickAfter(instant: Date): Date
  /** The last tick strictly before `instant`. */
  tickBefore(instant: Date): Date | undefined
}

/** Builds the timetable of a periodic schedule; `anchor` is the start_date that duration grids count from. */
export function createTimetable(schedule: Exclude<Schedule, {kind: 'none'}>, zone: string, anchor: Date): Timetable {
  return schedule.kind === 'cron' ? cronTimetable(schedule.expression, zone) : intervalTimetable(schedule.ms, anchor)
}

function intervalTimetable(ms: number, anchor: Date): Timetable {
  const at = (k: number) => new Date(anchor.getTime() + k * ms)
  return {
    ticksBetween(from, to) {
      const ticks: Date[] = []
      for (let k = Math.ceil((from.getTime() - anchor.getTime()) / ms); at(k) <= to; k++) ticks.push(at(k))
      return ticks
    },
    tickAfter: (instant) => at(Math.floor((instant.getTime() - anchor.getTime()) / ms) + 1),
    tickBefore: (instant) => at(Math.ceil((instant.getTime() - anchor.getTime()) / ms) - 1),
  }
}

const LOOKAROUND_MS = 400 * 86_400_000

function cronTimetable(expression: string, zone: string): Timetable {
  const fields = CronExpressionParser.parse(expression).fields
  const hours = new Set<number>(fields.hour.values as number[])
  const minutes = new Set<number>(fields.minute.values as number[])

  /**
   * cron-parser moves a wall time that falls in a spring-forward gap by the gap's length (02:30 → 03:30);
   * Airflow runs it at the first valid instant after the gap (03:00), so such ticks are pulled back to the
   * transition. A tick whose wall hour and minute are ones the expression names was not moved.
   */
  const normalise = (tick: Date): Date => {
    const wall = wallClock(tick, zone)
    if (hours.has(wall.hour) && minutes.has(wall.minute)) return tick
    return gapEnd(tick, zone)
  }

  const iterate = (from: Date, to: Date): Date[] => {
    const it = CronExpressionParser.parse(expression, {currentDate: new Date(from.getTime() - 1), endDate: to, tz: zone})
    const ticks: Date[] = []
    while (it.hasNext()) {
      const tick = normalise(it.next().toDate())
      const previous = ticks.at(-1)
      if (tick >= from && tick <= to && (!previous || tick > previous)) ticks.push(tick)
    }

    return ticks
  }

  return {
    ticksBetween: iterate,
    tickAfter(instant) {
      const it = CronExpressionParser.parse(expression, {currentDate: instant, tz: zone})
      for (;;) {
        const tick = normalise(it.next().toDate())
        if (tick > instant) return tick
      }
    },
    tickBefore(instant) {
      const it = CronExpressionParser.parse(expression, {currentDate: instant, endDate: new Date(instant.getTime() + LOOKAROUND_MS), startDate: new Date(instant.getTime() - LOOKAROUND_MS), tz: zone})
      while (it.hasPrev()) {
        const tick = normalise(it.prev().toDate())
        if (tick < instant) return tick
      }

      return undefined
    },
  }
}

/** The instant a DST gap ends, for a tick just after it: the latest instant with the tick's offset, searched back. */
function gapEnd(tick: Date, zone: string): Date {
  const offsetAt = (ms: number) => new TZDate(ms, zone).getTimezoneOffset()
  const offset = offsetAt(tick.getTime())
  let low = tick.getTime() - 3 * 3_600_000
  let high = tick.getTime()
  if (offsetAt(low) === offset) return tick
  while (high - low > 60_000) {
    const middle = Math.floor((low + high) / 2 / 60_000) * 60_000
    if (offsetAt(middle) === offset) high = middle
    else low = middle
  }

  return new Date(high)
}
