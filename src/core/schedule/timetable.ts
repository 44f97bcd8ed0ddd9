import {CronExpressionParser} from 'cron-parser'

import {durationToMs} from './duration.js'
import {wallClock, zoneOffsetMinutes} from './logical-date.js'

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

const DAY_MS = 86_400_000
const HOUR_MS = 3_600_000
/** Search windows for the next or previous tick; a Feb 29 schedule can be eight years from the last one. */
const SEARCH_WINDOWS_MS = [2, 40, 400, 3000, 12_000].map((days) => days * DAY_MS)

/**
 * Cron ticks computed on the wall clock: every matching wall time of every day in range, each mapped to its
 * instant through a table of the zone's offsets. cron-parser parses the expression (and handles L, W and # in
 * the rare expressions that use them), but stepping it tick by tick costs about 0.1–0.35 ms per tick, which is
 * seconds for a year of hourly dates.
 */
function cronTimetable(expression: string, zone: string): Timetable {
  // Month and weekday names (JUL, WED) contain the letters of the special characters, so they are set aside first.
  if (/[#?LW]/i.test(expression.replaceAll(/\b(?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC|SUN|MON|TUE|WED|THU|FRI|SAT)\b/gi, ''))) {
    return cronParserTimetable(expression, zone)
  }

  const {dayOfMonth, dayOfWeek, hour, minute, month} = CronExpressionParser.parse(expression).fields
  const hours = [...(hour.values as number[])].sort((a, b) => a - b)
  const minutes = [...(minute.values as number[])].sort((a, b) => a - b)
  const months = new Set(month.values as number[])
  const daysOfMonth = new Set(dayOfMonth.values as number[])
  const daysOfWeek = new Set((dayOfWeek.values as number[]).map((day) => day % 7))
  // Vixie cron: when both day fields are restricted, a day matching either one fires.
  const dayMatches = (date: Date) => {
    if (!months.has(date.getUTCMonth() + 1)) return false
    const byMonthDay = daysOfMonth.has(date.getUTCDate())
    const byWeekDay = daysOfWeek.has(date.getUTCDay())
    if (dayOfMonth.isWildcard) return dayOfWeek.isWildcard || byWeekDay
    return dayOfWeek.isWildcard ? byMonthDay : byMonthDay || byWeekDay
  }

  // A job at fixed hours runs once in a repeated hour (the first time); a job that runs every hour runs in both.
  const everyHour = hours.length === 24

  const ticksBetween = (from: Date, to: Date): Date[] => {
    const offsets = new ZoneOffsets(zone, from.getTime() - 2 * DAY_MS, to.getTime() + 2 * DAY_MS)
    const firstDay = Math.floor((from.getTime() + offsets.at(from.getTime()) * 60_000) / DAY_MS) * DAY_MS - DAY_MS
    const lastDay = Math.floor((to.getTime() + offsets.at(to.getTime()) * 60_000) / DAY_MS) * DAY_MS + DAY_MS
    const ticks: number[] = []
    for (let day = firstDay; day <= lastDay; day += DAY_MS) {
      if (!dayMatches(new Date(day))) continue
      for (const h of hours) {
        for (const m of minutes) {
          const instants = offsets.instantsOfWall(day + h * HOUR_MS + m * 60_000)
          for (const instant of everyHour ? instants : instants.slice(0, 1)) {
            if (instant >= from.getTime() && instant <= to.getTime()) ticks.push(instant)
          }
        }
      }
    }

    ticks.sort((a, b) => a - b)
    return ticks.filter((tick, index) => index === 0 || tick !== ticks[index - 1]).map((tick) => new Date(tick))
  }

  return {
    ticksBetween,
    tickAfter(instant) {
      for (const window of SEARCH_WINDOWS_MS) {
        const found = ticksBetween(new Date(instant.getTime() + 1), new Date(instant.getTime() + window))[0]
        if (found) return found
      }

      throw new Error(`no tick of "${expression}" within 30 years after ${instant.toISOString()}`)
    },
    tickBefore(instant) {
      for (const window of SEARCH_WINDOWS_MS) {
        const found = ticksBetween(new Date(instant.getTime() - window), new Date(instant.getTime() - 1)).at(-1)
        if (found) return found
      }

      return undefined
    },
  }
}

/**
 * The UTC offsets of a zone over a span, sampled every six hours with each change located to the minute, so
 * converting a wall time costs a binary search instead of an Intl call. Zones change offset at most a few
 * times a year, never twice within six hours.
 */
class ZoneOffsets {
  /** Segment starts (instants) and the offset, in minutes east of UTC, from each start on. */
  private readonly starts: number[] = []
  private readonly values: number[] = []

  constructor(private readonly zone: string, spanStart: number, to: number) {
    const step = 6 * HOUR_MS
    // Minute-aligned samples put each located change exactly on its minute.
    const from = Math.floor(spanStart / 60_000) * 60_000
    let previous = this.exact(from)
    this.starts.push(Number.NEGATIVE_INFINITY)
    this.values.push(previous)
    for (let at = from + step; at < to + step; at += step) {
      const offset = this.exact(at)
      if (offset === previous) continue
      let low = at - step
      let high = at
      while (high - low > 60_000) {
        const middle = low + Math.max(60_000, Math.floor((high - low) / 2 / 60_000) * 60_000)
        if (this.exact(middle) === offset) high = middle
        else low = middle
      }

      this.starts.push(high)
      this.values.push(offset)
      previous = offset
    }
  }

  /** The instants at which the offset changes, up to `instant`. */
  changesUpTo(instant: number): number[] {
    return this.starts.slice(1).filter((start) => start <= instant)
  }

  /** The offset in force at an instant. */
  at(instant: number): number {
    let low = 0
    let high = this.starts.length - 1
    while (low < high) {
      const middle = Math.ceil((low + high) / 2)
      if ((this.starts[middle] as number) <= instant) low = middle
      else high = middle - 1
    }

    return this.values[low] as number
  }

  /**
   * The instants showing `wall` (a wall time written as if it were UTC): one normally, two in a fall overlap
   * (earliest first), and in a spring gap the instant the gap ends.
   */
  instantsOfWall(wall: number): number[] {
    const nearby = new Set([this.at(wall - 15 * HOUR_MS), this.at(wall), this.at(wall + 15 * HOUR_MS)])
    const instants = [...nearby].map((offset) => wall - offset * 60_000).filter((instant) => wall - this.at(instant) * 60_000 === instant)
    if (instants.length > 0) return [...new Set(instants)].sort((a, b) => a - b)
    const gapEnd = this.starts.find((start, index) => index > 0 && start > wall - 15 * HOUR_MS && start < wall + 15 * HOUR_MS && (this.values[index] as number) > (this.values[index - 1] as number))
    return gapEnd === undefined ? [] : [gapEnd]
  }

  private exact(instant: number): number {
    return zoneOffsetMinutes(new Date(instant), this.zone)
  }
}

const LOOKAROUND_MS = 400 * DAY_MS

/** Steps cron-parser tick by tick: for expressions with L, W, # or ?, and as the reference the fast path is tested against. */
export function cronParserTimetable(expression: string, zone: string): Timetable {
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

/** The instant a DST gap ends, for a tick that cron-parser moved past it: the last offset change before the tick. */
function gapEnd(tick: Date, zone: string): Date {
  const changes = new ZoneOffsets(zone, tick.getTime() - 3 * HOUR_MS, tick.getTime()).changesUpTo(tick.getTime())
  return new Date(changes.at(-1) ?? tick.getTime())
}

/**
 * True when every tick of the schedule falls on local midnight, so a date alone names a logical date: cron
 * schedules firing at minute 0 of hour 0, and whole-day intervals anchored at a local midnight.
 */
export function ticksAtMidnight(schedule: Schedule, zone: string, anchor: Date): boolean {
  switch (schedule.kind) {
    case 'cron': {
      const [minute, hour] = schedule.expression.split(/\s+/)
      return minute === '0' && hour === '0'
    }

    case 'interval': {
      const {hour, minute} = wallClock(anchor, zone)
      return schedule.ms % 86_400_000 === 0 && hour === 0 && minute === 0 && anchor.getUTCSeconds() === 0 && anchor.getUTCMilliseconds() === 0
    }

    case 'none': {
      return false
    }
  }
}
