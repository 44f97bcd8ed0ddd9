import type {RunRow} from '../core/state/queries.js'
import {dim, formatDuration, paintState, table} from './format.js'

const orDash = (value: null | string) => value ?? dim('-')
const durationOrDash = (ms: null | number) => (ms === null ? dim('-') : formatDuration(ms))

/** `dags list-runs`: logical dates in the DAG's zone (`labelOf`); `recorded` counts runs in any state. */
export function runsText(dagId: string, runs: RunRow[], options: {labelOf: (iso: string) => string; recorded: number; state: null | string}): string {
  if (runs.length === 0) {
    return dim(options.recorded === 0 || options.state === null ? `No runs recorded for ${dagId}.` : `No ${options.state} runs of ${dagId} (${options.recorded} run(s) recorded in other states).`)
  }

  // Columns for keys and batches appear only when some run has one, so a plain DAG's table is unchanged.
  const keyed = runs.some((run) => run.partition_key !== null)
  const batched = runs.some((run) => run.batch_run_id !== null)
  return table(
    ['logical_date', ...(keyed ? ['partition'] : []), 'state', 'run_id', ...(batched ? ['batch'] : []), 'start', 'end', 'duration'],
    runs.map((run) => [
      run.logical_date === null ? dim('-') : options.labelOf(run.logical_date),
      ...(keyed ? [orDash(run.partition_key)] : []),
      paintState(run.state),
      run.run_id,
      ...(batched ? [orDash(run.batch_run_id)] : []),
      orDash(run.start_date),
      orDash(run.end_date),
      durationOrDash(run.duration_ms),
    ]),
  )
}

/** `tasks states-for-dag-run`. */
export function taskInstancesText(
  run: {label: string; run_id: string; state: string},
  rows: Array<{duration_ms: null | number; end_date: null | string; reason: null | string; start_date: null | string; state: string; task_id: string; try_number: number}>,
): string {
  return [
    `${run.label}  ${paintState(run.state)}  ${dim(run.run_id)}`,
    table(
      ['task_id', 'state', 'try', 'start', 'end', 'duration', 'reason'],
      rows.map((row) => [row.task_id, paintState(row.state), String(row.try_number), orDash(row.start_date), orDash(row.end_date), durationOrDash(row.duration_ms), orDash(row.reason)]),
    ),
  ].join('\n')
}

/** The line `tasks logs` prints above a log on a terminal: which try it is and how it ended. */
export function tryHeader(taskId: string, runLabel: string, attempt: {end_date: null | string; exit_code: null | number; start_date: null | string; state: string; try_number: number}, logPath: string): string {
  const duration = attempt.start_date !== null && attempt.end_date !== null ? formatDuration(Date.parse(attempt.end_date) - Date.parse(attempt.start_date)) : null
  const parts = [`${taskId} · ${runLabel}`, `try ${attempt.try_number}`, paintState(attempt.state), attempt.exit_code === null ? null : `exit code ${attempt.exit_code}`, duration]
  return `${parts.filter((part) => part !== null).join(' · ')}\n${dim(logPath)}`
}
