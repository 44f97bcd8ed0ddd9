import {TZDate} from '@date-fns/tz'

import {UpdraftError} from '../errors.js'

/** A date or date-time as the user typed it; without an offset it means wall-clock time in the DAG's zone. */
export interface CalendarDateTime {
  day: number
  hour: number
  millisecond: number
  minute: number
  month: number
  /** Minutes east of UTC when the text carried `Z` or an offset, otherwise null. */
  offsetMinutes: null | number
  second: number
  text: string
  year: number
}

const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i

/** Parses `2024-01-31`, `2024-01-31T06:30`, `2024-01-31T06:30:00Z` or `…+05:30`, rejecting impossible dates. */
export function parseDateTime(text: string, what: string): CalendarDateTime {
  const trimmed = text.trim()
  const match = DATE_TIME.exec(trimmed)
  const invalid = () =>
    new UpdraftError(
      'INVALID_DATE',
      `Expected ${what} to be a date like 2024-01-31 or a date-time like 2024-01-31T06:30 (optionally with Z or +01:00), got "${text}".`,
      {exit: 2},
    )
  if (!match) throw invalid()
  const [, y, mo, d, h, mi, s, ms, offset] = match
  const value: CalendarDateTime = {
    day: Number(d),
    hour: Number(h ?? 0),
    millisecond: Number((ms ?? '0').padEnd(3, '0')),
    minute: Number(mi ?? 0),
    month: Number(mo),
    offsetMinutes: offset === undefined ? null : parseOffset(offset),
    second: Number(s ?? 0),
    text: trimmed,
    year: Number(y),
  }
  const probe = new Date(Date.UTC(value.year, value.month - 1, value.day, value.hour, value.minute, value.second))
  const sameFields =
    probe.getUTCFullYear() === value.year &&
    probe.getUTCMonth() === value.month - 1 &&
    probe.getUTCDate() === value.day &&
    probe.getUTCHours() === value.hour &&
    probe.getUTCMinutes() === value.minute &&
    probe.getUTCSeconds() === value.second
  if (!sameFields || (value.offsetMinutes !== null && Math.abs(value.offsetMinutes) > 18 * 60)) throw invalid()
  return value
}

function parseOffset(offset: string): number {
  if (offset.toUpperCase() === 'Z') return 0
  const sign = offset.startsWith('-') ? -1 : 1
  const digits = offset.slice(1).replace(':', '')
  return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || 0))
}

/** True when the runtime knows the IANA zone name. */
export function isValidTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', {timeZone: zone})
    return true
  } catch {
    return false
  }
}

/**
 * The instant a calendar value denotes in `zone`. A wall time inside a spring-forward gap moves forward by the
 * gap; in the fall overlap the first occurrence wins, so an inclusive `-s` never skips the earlier hour.
 */
export function toInstant(value: CalendarDateTime, zone: string): Date {
  const {day, hour, millisecond, minute, month, offsetMinutes, second, year} = value
  if (offsetMinutes !== null) {
    return new Date(Date.UTC(year, month - 1, day, hour, minute, second, millisecond) - offsetMinutes * 60_000)
  }

  const candidate = new TZDate(year, month - 1, day, hour, minute, second, millisecond, zone).getTime()
  const hourEarlier = new TZDate(candidate - 3_600_000, zone)
  const isEarlierOccurrence =
    hourEarlier.getHours() === hour && hourEarlier.getMinutes() === minute && hourEarlier.getDate() === day
  return new Date(isEarlierOccurrence ? candidate - 3_600_000 : candidate)
}

/** Wall-clock fields of an instant in `zone`. */
export function wallClock(instant: Date, zone: string): {day: number; hour: number; minute: number; month: number; weekday: number} {
  const local = new TZDate(instant.getTime(), zone)
  return {
    day: local.getDate(),
    hour: local.getHours(),
    minute: local.getMinutes(),
    month: local.getMonth() + 1,
    weekday: local.getDay(),
  }
}

/** The offset of `zone` from UTC at `instant`, in minutes east. */
export function zoneOffsetMinutes(instant: Date, zone: string): number {
  return -new TZDate(instant.getTime(), zone).getTimezoneOffset()
}

/** The storage form of an instant: `2024-01-01T00:00:00.000Z`. */
export function toUtcIso(instant: Date): string {
  return new Date(instant.getTime()).toISOString()
}

/** Wall-clock fields of an instant in a zone, as zero-padded text, e.g. offset `+05:30`. */
export interface WallTime {
  day: string
  hour: string
  minute: string
  month: string
  offset: string
  second: string
  year: string
}

const wallFormats = new Map<string, {format: Intl.DateTimeFormat; last: {iso: string; wall: WallTime} | null}>()
const WALL_TEXT = /^(\d{2})\/(\d{2})\/(\d{4}), (\d{2}):(\d{2}):(\d{2}) GMT(.*)$/

/**
 * The wall time of `iso` in `zone`. Intl is used directly, through `format()` and one pattern, because this runs
 * for every run of a year-long backfill, where a TZDate with date-fns formatting, or even `formatToParts()`,
 * costs several times more. The last answer per zone is kept: a run's label and its template ask for the same.
 */
export function wallTimeOf(iso: string, zone: string): WallTime {
  let cached = wallFormats.get(zone)
  if (!cached) {
    const options = {day: '2-digit', hour: '2-digit', hourCycle: 'h23', minute: '2-digit', month: '2-digit', second: '2-digit', timeZone: zone, timeZoneName: 'longOffset', year: 'numeric'} as const
    cached = {format: new Intl.DateTimeFormat('en-US', options), last: null}
    wallFormats.set(zone, cached)
  }

  if (cached.last?.iso === iso) return cached.last.wall
  const [, month = '', day = '', year = '', hour = '', minute = '', second = '', offset = ''] = WALL_TEXT.exec(cached.format.format(new Date(iso))) ?? []
  // longOffset reads `GMT+01:00`, or plain `GMT` at offset zero.
  const wall = {day, hour, minute, month, offset: offset || '+00:00', second, year}
  cached.last = {iso, wall}
  return wall
}

/** Formats instants for people: wall time in the DAG's zone, e.g. `2024-03-05 00:00 +01:00`, or `2024-03-05`. */
export type DateLabeler = (iso: string) => string

/** A labeler for `zone`; with `dateOnly` (every tick at local midnight) time and offset, never differing, are left out. */
export function dateLabeler(zone: string, dateOnly: boolean): DateLabeler {
  return (iso) => {
    const wall = wallTimeOf(iso, zone)
    const date = `${wall.year}-${wall.month}-${wall.day}`
    return dateOnly ? date : `${date} ${wall.hour}:${wall.minute} ${wall.offset}`
  }
}

/** A label as a value for `-s`, `-e` or `-D`: `2024-03-05 06:30 +01:00` becomes `2024-03-05T06:30+01:00`. */
export function labelAsArgument(label: string): string {
  const [date, time, offset] = label.split(' ')
  return time === undefined ? (date ?? label) : `${date}T${time}${offset ?? ''}`
}
