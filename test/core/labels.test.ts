import {describe, expect, it} from '@jest/globals'

import {dateLabeler, labelAsArgument} from '../../src/core/schedule/logical-date.js'
import {labelerFor} from '../../src/core/schedule/resolve-dates.js'
import {makeDag} from '../helpers/builders.js'

describe('logical dates as people read them', () => {
  it('shows a daily Europe/Berlin date as its local date, not the UTC instant of the evening before', () => {
    const dag = makeDag({start_date: '2024-01-01', timezone: 'Europe/Berlin'})
    expect(labelerFor(dag)('2024-03-04T23:00:00.000Z')).toBe('2024-03-05')
  })

  it('shows time and offset when ticks are not all at midnight, across a DST change', () => {
    const labelOf = labelerFor(makeDag({schedule_interval: '@hourly', start_date: '2024-01-01', timezone: 'Europe/Berlin'}))
    expect(labelOf('2024-03-31T00:00:00.000Z')).toBe('2024-03-31 01:00 +01:00')
    expect(labelOf('2024-03-31T01:00:00.000Z')).toBe('2024-03-31 03:00 +02:00')
  })

  it('keeps half-hour offsets and UTC', () => {
    expect(dateLabeler('Asia/Kolkata', false)('2024-02-29T18:30:00.000Z')).toBe('2024-03-01 00:00 +05:30')
    expect(dateLabeler('UTC', false)('2024-02-29T18:30:00.000Z')).toBe('2024-02-29 18:30 +00:00')
  })

  it('treats midnight cron schedules and whole-day grids anchored at midnight as date-only', () => {
    const zone = {timezone: 'America/New_York'}
    expect(labelerFor(makeDag({...zone, schedule_interval: '0 0 * * 1'}))('2024-01-08T05:00:00.000Z')).toBe('2024-01-08')
    expect(labelerFor(makeDag({...zone, schedule_interval: {days: 1}}))('2024-01-08T05:00:00.000Z')).toBe('2024-01-08')
    expect(labelerFor(makeDag({...zone, schedule_interval: '30 6 * * *'}))('2024-01-08T11:30:00.000Z')).toBe('2024-01-08 06:30 -05:00')
    expect(labelerFor(makeDag({...zone, schedule_interval: {days: 1}, start_date: '2024-01-01T06:00'}))('2024-01-08T11:00:00.000Z')).toBe('2024-01-08 06:00 -05:00')
  })

  it('turns a label back into a value -D accepts', () => {
    expect(labelAsArgument('2024-03-05 06:30 +01:00')).toBe('2024-03-05T06:30+01:00')
    expect(labelAsArgument('2024-03-05')).toBe('2024-03-05')
  })
})
