import {describe, expect, it} from '@jest/globals'

import {createTimetable, cronParserTimetable} from '../../src/core/schedule/timetable.js'

// Australia/Lord_Howe (a 30-minute DST shift) is left out: stepping cron-parser loses ticks there.
const zones = ['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Kolkata', 'America/St_Johns', 'Australia/Sydney']
const expressions = ['0 * * * *', '30 2 * * *', '15 1,13 * * 1-5', '0 0 1,15 * 0', '*/20 3 * 3,10,11 *', '45 23 * * 6', '0 0 29 2 *', '0 12 * JUL,OCT WED', '0 6 L * *']
// Windows around the 2024 DST changes of both hemispheres.
const windows = [
  ['2024-02-25T00:00:00Z', '2024-04-12T00:00:00Z'],
  ['2024-09-28T00:00:00Z', '2024-11-08T00:00:00Z'],
] as const

describe('wall-clock cron ticks agree with stepping cron-parser', () => {
  it.each(zones.flatMap((zone) => expressions.map((expression) => [zone, expression] as const)))('%s %s', (zone, expression) => {
    const fast = createTimetable({expression, kind: 'cron', source: expression}, zone, new Date(0))
    const reference = cronParserTimetable(expression, zone)
    for (const [from, to] of windows) {
      const iso = (dates: Date[]) => dates.map((date) => date.toISOString())
      expect(iso(fast.ticksBetween(new Date(from), new Date(to)))).toEqual(iso(reference.ticksBetween(new Date(from), new Date(to))))
    }

    const probe = new Date('2024-03-20T12:17:00Z')
    expect(fast.tickAfter(probe).toISOString()).toBe(reference.tickAfter(probe).toISOString())
    expect(fast.tickBefore(probe)?.toISOString()).toBe(reference.tickBefore(probe)?.toISOString())
  })
})
