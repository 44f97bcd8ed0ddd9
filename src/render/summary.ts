import type {BackfillSummary} from '../core/executor/backfill-summary.js'
import {bad, bold, dim, formatDuration, good, paintState, runNoun, table, warn} from './format.js'

const STATE_ORDER = ['success', 'skipped', 'failed', 'upstream_failed', 'up_for_retry', 'running', 'queued', 'scheduled', 'none']

function countsText(counts: Partial<Record<string, number>>): string {
  const rank = (state: string) => (STATE_ORDER.includes(state) ? STATE_ORDER.indexOf(state) : STATE_ORDER.length)
  const entries = Object.entries(counts)
    .filter(([, count]) => (count ?? 0) > 0)
    .sort(([a], [b]) => rank(a) - rank(b))
  return entries.length > 0 ? entries.map(([state, count]) => `${count} ${paintState(state)}`).join(', ') : dim('none')
}

function outcomeText(summary: BackfillSummary): string {
  if (summary.cancelled_by !== null) return bad(`was cancelled by ${summary.cancelled_by}`)
  if (summary.interrupted) return warn('interrupted')
  return summary.failures.length > 0 ? bad('finished with failures') : good('succeeded')
}

/** The closing summary: dates and task instances by state, wall time, and a table of failures. */
export function summaryText(summary: BackfillSummary): string {
  const {after_end_date: after, before_start_date: before, not_yet_due: notDue} = summary.excluded
  const excluded = before + after + notDue
  const lines = [
    '',
    bold(`Backfill of ${summary.dag_id} ${outcomeText(summary)} in ${formatDuration(summary.wall_ms)}`),
    `  ${`${runNoun(summary.runs)}:`.padEnd(16)}${countsText(summary.counts.runs)} (${summary.runs.length} total${excluded > 0 ? `; ${excluded} excluded: ${before} before start_date, ${after} after end_date, ${notDue} not yet due` : ''})`,
    `  task instances: ${countsText(summary.counts.task_instances)}`,
    ...(summary.backfill_id === null ? [] : [dim(`  record:         backfill ${summary.backfill_id} (updraft backfills show ${summary.backfill_id})`)]),
  ]
  // Why the failures below did not run again comes before them.
  if (summary.not_rerun > 0) {
    lines.push('', warn(`${summary.not_rerun} selected task instance(s) had already failed and were not run again; add --rerun-failed-tasks to re-run them and their downstream.`))
  }

  if (summary.failures.length > 0) {
    lines.push('', bad(`Failures (${summary.failures.length}):`))
    const rows = summary.failures.map((failure) => [
      summary.dag_id,
      failure.task_id,
      failure.label,
      String(failure.try_number),
      paintState(failure.state),
      failure.reason ?? '',
      failure.log_path ?? dim('-'),
    ])
    lines.push(table(['dag', 'task', 'logical_date', 'try', 'state', 'reason', 'log'], rows))
    if (summary.failures.some((failure) => failure.reason === 'dag-version-mismatch')) {
      lines.push(warn("dag-version-mismatch: a worker's copy of the DAG file differs from this one, so it refused the try without running it; give every worker the same DAG files (the log names the worker and both versions)."))
    }
  }

  if (summary.already_complete > 0) {
    const all = summary.already_complete === summary.runs.length
    lines.push('', dim(`${all ? 'Every' : summary.already_complete} date${all ? '' : '(s)'} in the range ${all ? 'was' : 'were'} already complete, so nothing ran for ${all ? 'it' : 'them'}; --reset-dagruns runs them again.`))
  }

  for (const run of summary.failed_outside_selection) {
    const tis = Object.entries(run.task_instances).map(([taskId, state]) => `${taskId} ${paintState(state)}`)
    lines.push(
      '',
      warn(`${run.label} is still failed: ${tis.join(', ')} ${tis.length === 1 ? 'was' : 'were'} not selected.`),
      `  Run ${Object.keys(run.task_instances).length === 1 ? 'it' : 'them'} with: updraft dags backfill ${summary.dag_id} ${run.selection_arguments} --rerun-failed-tasks`,
    )
  }

  if (summary.interrupted) {
    const again = summary.backfill_id === null ? 'run the same command again' : `updraft backfills resume ${summary.backfill_id}`
    lines.push('', warn(`Running task instances were stopped and returned to none; ${again} to continue.`))
  }

  return lines.join('\n')
}
