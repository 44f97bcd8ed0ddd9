import {timetableOf} from '../schedule/resolve-dates.js'
import {toUtcIso} from '../schedule/logical-date.js'
import type {Dag} from './model.js'

/** A DAG as plain data for `dags list`, `dags show` and `tasks list`. */
export interface DagDescription {
  /** The DAG's backfill_policy as written; null for the default of one run per date. */
  backfill_policy: 'single_run' | null | {max_dates_per_run: number}
  /** Whether `updraft scheduler` starts every due interval since the last (true) or only the latest. */
  catchup: boolean
  dag_id: string
  description: null | string
  end_date: null | string
  fileloc: string
  max_active_runs: number
  /** The next ticks after "now" (empty for non-periodic schedules). */
  next_ticks: string[]
  /** Static partition keys in declared order; empty without partitions. */
  partitions: string[]
  schedule_interval: string
  /** Sensors `updraft scheduler` polls, with their intervals in seconds. */
  sensors: Array<{every_seconds: number; sensor_id: string}>
  start_date: null | string
  tasks: Array<{downstream: string[]; kind: 'bash' | 'callable'; task_id: string; upstream: string[]}>
  timezone: string
}

/** Describes a DAG; `tickCount` next ticks are listed, counted from the later of now and start_date. */
export function describeDag(dag: Dag, now: Date, tickCount: number): DagDescription {
  const nextTicks: string[] = []
  if (dag.schedule.kind !== 'none' && tickCount > 0) {
    const timetable = timetableOf(dag)
    const startDate = new Date(dag.startDate ?? 0)
    let cursor = now > startDate ? timetable.tickAfter(now) : (timetable.ticksBetween(startDate, timetable.tickAfter(startDate))[0] as Date)
    const endDate = dag.endDate === null ? null : new Date(dag.endDate)
    while (nextTicks.length < tickCount && (!endDate || cursor <= endDate)) {
      nextTicks.push(toUtcIso(cursor))
      cursor = timetable.tickAfter(cursor)
    }
  }

  return {
    backfill_policy: dag.batchSize === null ? 'single_run' : dag.batchSize === 1 ? null : {max_dates_per_run: dag.batchSize},
    catchup: dag.catchup,
    dag_id: dag.dagId,
    description: dag.description,
    end_date: dag.endDate,
    fileloc: dag.fileloc,
    max_active_runs: dag.maxActiveRuns,
    next_ticks: nextTicks,
    partitions: dag.partitions,
    schedule_interval: dag.schedule.source,
    sensors: dag.sensors.map((sensor) => ({every_seconds: sensor.everyMs / 1000, sensor_id: sensor.sensorId})),
    start_date: dag.startDate,
    tasks: dag.tasks.map((task) => ({
      downstream: dag.tasks.filter((other) => other.upstream.includes(task.taskId)).map((other) => other.taskId),
      kind: task.bashCommand === null ? 'callable' : 'bash',
      task_id: task.taskId,
      upstream: task.upstream,
    })),
    timezone: dag.timezone,
  }
}
