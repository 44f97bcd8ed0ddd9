import type {DagFileError} from '../core/loader/load-dags.js'
import type {DagDescription} from '../core/dag/describe.js'
import {bad, bold, dim, table} from './format.js'

/** `dags list`: one row per DAG, then one row per file that failed to load. */
export function dagListText(dags: Array<DagDescription & {is_paused: boolean; next_due_label: null | string}>, errors: DagFileError[]): string {
  const rows = dags.map((dag) => [dag.dag_id, dag.schedule_interval, dag.timezone, String(dag.tasks.length), dag.is_paused ? 'yes' : 'no', dag.next_due_label ?? '-', dag.fileloc])
  const parts = [dags.length > 0 ? table(['dag_id', 'schedule', 'timezone', 'tasks', 'paused', 'next due', 'file'], rows) : dim('No DAGs found.')]
  if (errors.length > 0) {
    parts.push('', bad(`${errors.length} file(s) failed to load:`), ...errors.map((error) => `  ${bad(error.code)} ${error.message}`))
  }

  return parts.join('\n')
}

/** `dags show`: header, the task graph as upstream → downstream lines, and the next ticks. */
export function dagShowText(dag: DagDescription, labelOf: (iso: string) => string): string {
  const lines = [
    `${bold(dag.dag_id)}${dag.description ? `  ${dim(dag.description)}` : ''}`,
    `  file            ${dag.fileloc}`,
    `  schedule        ${dag.schedule_interval}`,
    `  timezone        ${dag.timezone}`,
    `  start_date      ${dag.start_date === null ? dim('none') : labelOf(dag.start_date)}`,
    `  end_date        ${dag.end_date === null ? dim('none') : labelOf(dag.end_date)}`,
    `  max_active_runs ${dag.max_active_runs}`,
    ...(dag.partitions.length > 0 ? [`  partitions      ${dag.partitions.join(', ')} (${dag.partitions.length})`] : []),
    ...(dag.catchup ? [] : ['  catchup         false (the scheduler starts only the latest due interval)']),
    ...(dag.sensors.length > 0 ? [`  sensors         ${dag.sensors.map((sensor) => `${sensor.sensor_id} (every ${sensor.every_seconds} s)`).join(', ')}`] : []),
    ...(dag.backfill_policy === null ? [] : [`  backfill_policy ${dag.backfill_policy === 'single_run' ? 'single_run' : `max_dates_per_run ${dag.backfill_policy.max_dates_per_run}`}`]),
    '',
    bold('Graph (upstream → downstream)'),
  ]
  const width = Math.max(...dag.tasks.map((task) => task.task_id.length))
  for (const task of dag.tasks) {
    const arrow = task.downstream.length > 0 ? `→ ${task.downstream.join(', ')}` : dim('(end)')
    lines.push(`  ${task.task_id.padEnd(width)}  ${arrow}  ${dim(`[${task.kind}]`)}`)
  }

  lines.push('', bold(`Next ticks (${dag.timezone})`))
  lines.push(...(dag.next_ticks.length > 0 ? dag.next_ticks.map((tick) => `  ${labelOf(tick)}`) : [dim('  none (not periodic or past end_date)')]))
  return lines.join('\n')
}
