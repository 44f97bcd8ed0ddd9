import type {Dag, Task} from '../../src/core/dag/model.js'
import {validateDag} from '../../src/core/dag/validate.js'
import {parseDateTime} from '../../src/core/schedule/logical-date.js'
import type {DateSelection} from '../../src/core/schedule/resolve-dates.js'

/** A validated DAG from a plain definition, as a DAG file would give it. */
export function makeDag(definition: Record<string, unknown> = {}): Dag {
  return validateDag(
    {
      schedule_interval: '@daily',
      start_date: '2024-01-01',
      tasks: [{bash_command: 'true', task_id: 'only'}],
      ...definition,
    },
    '/dags/test_dag.ts',
    'test_dag',
  )
}

/** Bash tasks from `id: upstream,...` shorthand: `['a', 'b:a', 'c:a', 'd:b,c']` is a diamond. */
export function bashTasks(...specs: string[]): Array<{bash_command: string; task_id: string; upstream: string[]}> {
  return specs.map((spec) => {
    const [taskId = '', upstream = ''] = spec.split(':')
    return {bash_command: `echo ${taskId}`, task_id: taskId, upstream: upstream ? upstream.split(',') : []}
  })
}

export function range(start: string, end?: string): DateSelection {
  return {end: end === undefined ? null : parseDateTime(end, '-e'), kind: 'range', start: parseDateTime(start, '-s')}
}

export function list(...dates: string[]): DateSelection {
  return {dates: dates.map((date) => parseDateTime(date, '-l')), flag: '--logical-dates', kind: 'list'}
}

export type {Dag, Task}

/** Far in the future relative to every fixture, so no interval is "not yet due" unless a test says so. */
export const LATER = new Date('2030-01-01T00:00:00.000Z')
