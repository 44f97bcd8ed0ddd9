import {describe, expect, it} from '@jest/globals'

import {parseDateTime, toInstant} from '../../src/core/schedule/logical-date.js'
import {resolveLogicalDates} from '../../src/core/schedule/resolve-dates.js'
import {LATER, list, makeDag, range} from '../helpers/builders.js'

const iso = (dates: {intervals: Array<{end: Date; start: Date}>}) => dates.intervals.map((i) => i.start.toISOString())
const intervals = (dates: {intervals: Array<{end: Date; start: Date}>}) =>
  dates.intervals.map((i) => [i.start.toISOString(), i.end.toISOString()])

// The whole suite runs under several host zones: nothing here may depend on the zone of the machine.
describe.each(['UTC', 'America/Los_Angeles', 'Asia/Kathmandu'])('schedules with host TZ=%s', (hostZone) => {
  const original = process.env.TZ
  beforeAll(() => {
    process.env.TZ = hostZone
  })
  afterAll(() => {
    process.env.TZ = original
  })

  describe('presets', () => {
    it.each([
      ['@hourly', range('2024-01-01T00:00', '2024-01-01T03:00'), ['2024-01-01T00:00:00.000Z', '2024-01-01T01:00:00.000Z', '2024-01-01T02:00:00.000Z', '2024-01-01T03:00:00.000Z']],
      ['@daily', range('2024-01-01', '2024-01-03'), ['2024-01-01T00:00:00.000Z', '2024-01-02T00:00:00.000Z', '2024-01-03T00:00:00.000Z']],
      ['@weekly', range('2024-01-01', '2024-01-21'), ['2024-01-07T00:00:00.000Z', '2024-01-14T00:00:00.000Z', '2024-01-21T00:00:00.000Z']],
      ['@monthly', range('2024-01-01', '2024-03-01'), ['2024-01-01T00:00:00.000Z', '2024-02-01T00:00:00.000Z', '2024-03-01T00:00:00.000Z']],
      ['@quarterly', range('2024-01-01', '2024-12-31'), ['2024-01-01T00:00:00.000Z', '2024-04-01T00:00:00.000Z', '2024-07-01T00:00:00.000Z', '2024-10-01T00:00:00.000Z']],
      ['@yearly', range('2024-01-01', '2026-06-01'), ['2024-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z']],
      ['@annually', range('2024-01-01', '2025-01-01'), ['2024-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z']],
    ])('%s ticks', (schedule, selection, expected) => {
      const dag = makeDag({schedule_interval: schedule, start_date: '2024-01-01'})
      expect(iso(resolveLogicalDates(dag, selection, LATER))).toEqual(expected)
    })

    it('@weekly is Sunday midnight (2024-01-07 is a Sunday)', () => {
      const dag = makeDag({schedule_interval: '@weekly', start_date: '2023-12-01'})
      expect(intervals(resolveLogicalDates(dag, range('2024-01-07'), LATER))).toEqual([['2024-01-07T00:00:00.000Z', '2024-01-14T00:00:00.000Z']])
    })
  })

  describe('inclusive bounds', () => {
    const dag = makeDag({schedule_interval: '30 6 * * *', start_date: '2024-01-01'})

    it('-e is a full-precision bound: a 06:30 tick on the end day is outside -e 2024-01-03', () => {
      expect(iso(resolveLogicalDates(dag, range('2024-01-01', '2024-01-03'), LATER))).toEqual(['2024-01-01T06:30:00.000Z', '2024-01-02T06:30:00.000Z'])
    })

    it('-e equal to a tick includes it', () => {
      expect(iso(resolveLogicalDates(dag, range('2024-01-01', '2024-01-03T06:30'), LATER)).at(-1)).toBe('2024-01-03T06:30:00.000Z')
    })

    it('an off-grid -s rounds up to the next tick; a tick exactly at -s is included', () => {
      expect(iso(resolveLogicalDates(dag, range('2024-01-01T06:31', '2024-01-03T06:30'), LATER))).toEqual(['2024-01-02T06:30:00.000Z', '2024-01-03T06:30:00.000Z'])
      expect(iso(resolveLogicalDates(dag, range('2024-01-01T06:30', '2024-01-01T06:30'), LATER))).toEqual(['2024-01-01T06:30:00.000Z'])
    })

    it('only -s gives the range [s, s]', () => {
      const daily = makeDag()
      expect(iso(resolveLogicalDates(daily, range('2024-01-05'), LATER))).toEqual(['2024-01-05T00:00:00.000Z'])
    })

    it('-s after -e is an error', () => {
      expect(() => resolveLogicalDates(dag, range('2024-01-05', '2024-01-01'), LATER)).toThrow(expect.objectContaining({code: 'DATE_RANGE_INVERTED', exit: 2}))
    })

    it('Feb 29 of a leap year is a daily tick and its interval ends on Mar 1', () => {
      const daily = makeDag()
      expect(intervals(resolveLogicalDates(daily, range('2024-02-28', '2024-03-01'), LATER))).toEqual([
        ['2024-02-28T00:00:00.000Z', '2024-02-29T00:00:00.000Z'],
        ['2024-02-29T00:00:00.000Z', '2024-03-01T00:00:00.000Z'],
        ['2024-03-01T00:00:00.000Z', '2024-03-02T00:00:00.000Z'],
      ])
    })

    it('a monthly schedule on the 29th skips February of common years', () => {
      const dag29 = makeDag({schedule_interval: '0 0 29 * *', start_date: '2023-01-01'})
      expect(iso(resolveLogicalDates(dag29, range('2023-01-01', '2023-03-31'), LATER))).toEqual(['2023-01-29T00:00:00.000Z', '2023-03-29T00:00:00.000Z'])
    })
  })

  describe('time zones', () => {
    it('naive CLI dates are read in the DAG zone; Z and offsets are honoured as written', () => {
      const dag = makeDag({start_date: '2024-01-01', timezone: 'America/New_York'})
      // New York midnight is 05:00Z in winter.
      expect(iso(resolveLogicalDates(dag, range('2024-01-02'), LATER))).toEqual(['2024-01-02T05:00:00.000Z'])
      // 2024-01-02T00:00Z is 19:00 on Jan 1 in New York: the next local midnight tick is Jan 2 05:00Z.
      expect(iso(resolveLogicalDates(dag, range('2024-01-02T00:00Z', '2024-01-03T00:00Z'), LATER))).toEqual(['2024-01-02T05:00:00.000Z'])
      expect(iso(resolveLogicalDates(dag, range('2024-01-02T00:00-05:00'), LATER))).toEqual(['2024-01-02T05:00:00.000Z'])
    })

    it('a half-hour zone (Asia/Kolkata, +05:30): local midnight is 18:30Z the day before', () => {
      const dag = makeDag({start_date: '2024-01-01', timezone: 'Asia/Kolkata'})
      expect(intervals(resolveLogicalDates(dag, range('2024-03-01', '2024-03-02'), LATER))).toEqual([
        ['2024-02-29T18:30:00.000Z', '2024-03-01T18:30:00.000Z'],
        ['2024-03-01T18:30:00.000Z', '2024-03-02T18:30:00.000Z'],
      ])
    })

    it('start_date is read in the DAG zone', () => {
      expect(makeDag({start_date: '2024-01-01', timezone: 'Asia/Kolkata'}).startDate).toBe('2023-12-31T18:30:00.000Z')
    })
  })

  describe('DST (Europe/Paris: 2024-03-31 02:00→03:00, 2024-10-27 03:00→02:00)', () => {
    it('daily intervals are 23 h and 25 h long across the changes', () => {
      const dag = makeDag({start_date: '2024-01-01', timezone: 'Europe/Paris'})
      expect(intervals(resolveLogicalDates(dag, list('2024-03-31', '2024-10-27'), LATER))).toEqual([
        ['2024-03-30T23:00:00.000Z', '2024-03-31T22:00:00.000Z'],
        ['2024-10-26T22:00:00.000Z', '2024-10-27T23:00:00.000Z'],
      ])
    })

    it('a wall time in the spring gap runs at the first valid instant after it (03:00 CEST)', () => {
      const dag = makeDag({schedule_interval: '30 2 * * *', start_date: '2024-01-01', timezone: 'Europe/Paris'})
      expect(iso(resolveLogicalDates(dag, range('2024-03-30', '2024-04-01T12:00'), LATER))).toEqual([
        '2024-03-30T01:30:00.000Z',
        '2024-03-31T01:00:00.000Z',
        '2024-04-01T00:30:00.000Z',
      ])
    })

    it('a once-a-day wall time in the fall overlap runs once, at the first occurrence', () => {
      const dag = makeDag({schedule_interval: '30 2 * * *', start_date: '2024-01-01', timezone: 'Europe/Paris'})
      expect(iso(resolveLogicalDates(dag, range('2024-10-26', '2024-10-28T12:00'), LATER))).toEqual([
        '2024-10-26T00:30:00.000Z',
        '2024-10-27T00:30:00.000Z',
        '2024-10-28T01:30:00.000Z',
      ])
    })

    it('an hourly schedule runs in both repeated hours of the fall overlap', () => {
      const dag = makeDag({schedule_interval: '30 * * * *', start_date: '2024-01-01', timezone: 'Europe/Paris'})
      expect(iso(resolveLogicalDates(dag, range('2024-10-27T01:00', '2024-10-27T03:59'), LATER))).toEqual([
        '2024-10-26T23:30:00.000Z',
        '2024-10-27T00:30:00.000Z',
        '2024-10-27T01:30:00.000Z',
        '2024-10-27T02:30:00.000Z',
      ])
    })
  })

  describe('DST (America/New_York: 2024-03-10 02:00→03:00, 2024-11-03 02:00→01:00)', () => {
    it('a 02:00 daily tick moves to 03:00 EDT on the spring day', () => {
      const dag = makeDag({schedule_interval: '0 2 * * *', start_date: '2024-01-01', timezone: 'America/New_York'})
      expect(iso(resolveLogicalDates(dag, range('2024-03-09', '2024-03-11T12:00'), LATER))).toEqual([
        '2024-03-09T07:00:00.000Z',
        '2024-03-10T07:00:00.000Z',
        '2024-03-11T06:00:00.000Z',
      ])
    })

    it('a 02:30 daily tick runs at 03:00 EDT, the end of the gap', () => {
      const dag = makeDag({schedule_interval: '30 2 * * *', start_date: '2024-01-01', timezone: 'America/New_York'})
      expect(iso(resolveLogicalDates(dag, range('2024-03-10', '2024-03-10T23:00'), LATER))).toEqual(['2024-03-10T07:00:00.000Z'])
    })

    it('a 01:30 daily tick runs once on the fall day, at 01:30 EDT', () => {
      const dag = makeDag({schedule_interval: '30 1 * * *', start_date: '2024-01-01', timezone: 'America/New_York'})
      expect(iso(resolveLogicalDates(dag, range('2024-11-03', '2024-11-03T23:00'), LATER))).toEqual(['2024-11-03T05:30:00.000Z'])
    })

    it('an hourly schedule skips the missing hour and repeats the doubled one', () => {
      const dag = makeDag({schedule_interval: '@hourly', start_date: '2024-01-01', timezone: 'America/New_York'})
      expect(iso(resolveLogicalDates(dag, range('2024-03-10T00:00', '2024-03-10T04:00'), LATER))).toHaveLength(4)
      expect(iso(resolveLogicalDates(dag, range('2024-11-03T00:00', '2024-11-03T03:00'), LATER))).toHaveLength(5)
    })

    it('a naive -s in the fall overlap means the first occurrence', () => {
      expect(toInstant(parseDateTime('2024-11-03T01:30', '-s'), 'America/New_York').toISOString()).toBe('2024-11-03T05:30:00.000Z')
    })
  })

  describe('duration grids anchored at start_date', () => {
    it.each([
      [{hours: 6}],
      ['PT6H'],
    ])('%j makes a grid start_date, +6h, … in elapsed time', (schedule) => {
      const dag = makeDag({schedule_interval: schedule, start_date: '2024-01-01T01:15Z'})
      expect(iso(resolveLogicalDates(dag, range('2024-01-01T00:00Z', '2024-01-02T00:00Z'), LATER))).toEqual([
        '2024-01-01T01:15:00.000Z',
        '2024-01-01T07:15:00.000Z',
        '2024-01-01T13:15:00.000Z',
        '2024-01-01T19:15:00.000Z',
      ])
    })

    it('{days: 1} is 24 h of elapsed time, not wall-clock midnight, across DST', () => {
      const dag = makeDag({schedule_interval: {days: 1}, start_date: '2024-03-30', timezone: 'Europe/Paris'})
      expect(iso(resolveLogicalDates(dag, range('2024-03-30', '2024-04-01'), LATER))).toEqual(['2024-03-29T23:00:00.000Z', '2024-03-30T23:00:00.000Z'])
    })

    it('an off-grid -l date on a duration grid is an error naming the nearest ticks', () => {
      const dag = makeDag({schedule_interval: 'PT6H', start_date: '2024-01-01T00:00Z'})
      expect(() => resolveLogicalDates(dag, list('2024-01-01T05:00Z'), LATER)).toThrow(
        expect.objectContaining({code: 'DATE_NOT_A_TICK', message: expect.stringContaining('2024-01-01 00:00 +00:00 (before) and 2024-01-01 06:00 +00:00 (after)')}),
      )
    })
  })

  describe('exclusions and lists', () => {
    it('counts dates before start_date, after end_date and not yet due', () => {
      const dag = makeDag({end_date: '2024-01-08', start_date: '2024-01-03'})
      const now = new Date('2024-01-07T12:00:00Z')
      const dates = resolveLogicalDates(dag, range('2024-01-01', '2024-01-10'), now)
      expect(iso(dates)).toEqual(['2024-01-03T00:00:00.000Z', '2024-01-04T00:00:00.000Z', '2024-01-05T00:00:00.000Z', '2024-01-06T00:00:00.000Z'])
      // Jan 7 and 8 have not ended by Jan 7 noon; 9 and 10 are after end_date.
      expect(dates.excluded).toEqual({after_end_date: 2, before_start_date: 2, not_yet_due: 2})
    })

    it('-l runs exactly the listed ticks, sorted and without duplicates', () => {
      const dag = makeDag()
      expect(iso(resolveLogicalDates(dag, list('2024-01-05', '2024-01-02', '2024-01-05'), LATER))).toEqual(['2024-01-02T00:00:00.000Z', '2024-01-05T00:00:00.000Z'])
    })

    it('an off-tick -l date is an error naming the nearest ticks', () => {
      const dag = makeDag({schedule_interval: '30 6 * * *'})
      expect(() => resolveLogicalDates(dag, list('2024-01-05'), LATER)).toThrow(
        expect.objectContaining({code: 'DATE_NOT_A_TICK', exit: 2, message: expect.stringContaining('2024-01-04 06:30 +00:00 (before) and 2024-01-05 06:30 +00:00 (after)')}),
      )
    })

    it.each([null, '@once', '@continuous'])('a non-periodic schedule (%p) refuses a backfill', (schedule) => {
      const dag = makeDag({schedule_interval: schedule})
      expect(() => resolveLogicalDates(dag, range('2024-01-01', '2024-01-02'), LATER)).toThrow(expect.objectContaining({code: 'SCHEDULE_NOT_PERIODIC'}))
    })
  })
})

describe('date input', () => {
  it.each(['2024-13-01', '2023-02-29', '2024-01-32', '2024-1-1', 'yesterday', '2024-01-01T25:00', '2024-01-01T10:00+25:00'])('rejects %p', (text) => {
    expect(() => parseDateTime(text, '--start-date')).toThrow(expect.objectContaining({code: 'INVALID_DATE', exit: 2, message: expect.stringContaining(`got "${text}"`)}))
  })
})
