/** A fixed span of elapsed time, as a date-fns style object (`{hours: 6}`), an ISO 8601 string (`PT6H`) or seconds. */
export type DurationInput = DurationObject | number | string

/** The date-fns `Duration` keys that denote fixed elapsed time. */
export interface DurationObject {
  days?: number
  hours?: number
  milliseconds?: number
  minutes?: number
  seconds?: number
  weeks?: number
}

const UNIT_MS: Record<keyof DurationObject, number> = {
  days: 86_400_000,
  hours: 3_600_000,
  milliseconds: 1,
  minutes: 60_000,
  seconds: 1000,
  weeks: 604_800_000,
}

const ISO_DURATION = /^P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i

/**
 * Milliseconds of a duration, or an error text saying what was expected. Months and years are refused because
 * their length depends on the calendar; a calendar schedule is a cron expression such as `@monthly`.
 */
export function durationToMs(input: unknown): {error: string} | {ms: number} {
  const expected = 'a duration like {hours: 6}, "PT6H" or a number of seconds'
  if (typeof input === 'number') {
    return Number.isFinite(input) && input >= 0 ? {ms: input * 1000} : {error: `expected ${expected}, got ${input}`}
  }

  if (typeof input === 'string') {
    const match = ISO_DURATION.exec(input.trim())
    if (!match || input.trim().toUpperCase() === 'P' || input.trim().toUpperCase().endsWith('T')) {
      return {error: `expected ${expected} (weeks, days, hours, minutes, seconds only), got "${input}"`}
    }

    const [, w, d, h, m, s] = match
    const ms =
      Number(w ?? 0) * UNIT_MS.weeks +
      Number(d ?? 0) * UNIT_MS.days +
      Number(h ?? 0) * UNIT_MS.hours +
      Number(m ?? 0) * UNIT_MS.minutes +
      Number(s ?? 0) * UNIT_MS.seconds
    return {ms}
  }

  if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
    let ms = 0
    for (const [key, value] of Object.entries(input)) {
      if (!(key in UNIT_MS)) {
        return {error: `expected ${expected}; "${key}" is not a fixed-length unit (use weeks, days, hours, minutes, seconds)`}
      }

      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        return {error: `expected ${expected}; ${key} must be a non-negative number, got ${JSON.stringify(value)}`}
      }

      ms += value * UNIT_MS[key as keyof DurationObject]
    }

    return {ms}
  }

  return {error: `expected ${expected}, got ${JSON.stringify(input)}`}
}
