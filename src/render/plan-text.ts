import type {BackfillPlan} from '../core/planner/plan-backfill.js'
import {runLabel} from '../core/run/run-spec.js'
import {type PoolUse, worthSaying} from '../core/session/backfill-session.js'
import {bold, dim, runCountText, warn} from './format.js'
import {waitText} from './progress.js'

/** How a DAG's dates read to a person: a labeler for its zone, and its own bounds already labelled. */
export interface DagDateLabels {
  endDate: null | string
  labelOf: (iso: string) => string
  startDate: null | string
}

/** Lines saying which requested ticks were left out and why; empty when none were. */
export function exclusionLines(plan: BackfillPlan, dates: DagDateLabels): string[] {
  const {after_end_date: after, before_start_date: before, not_yet_due: notDue} = plan.excluded
  const lines: string[] = []
  if (before > 0) lines.push(warn(`${before} logical date(s) before the DAG's start_date (${dates.startDate}) were excluded.`))
  if (after > 0) lines.push(warn(`${after} logical date(s) after the DAG's end_date (${dates.endDate}) were excluded.`))
  if (notDue > 0) lines.push(warn(`${notDue} logical date(s) whose interval has not ended yet were excluded.`))
  return lines
}

/** The message for a plan with no logical dates. */
export function noDatesText(plan: BackfillPlan, dates: DagDateLabels): string {
  return [warn(`No logical dates in range for ${plan.dag_id}: ${plan.requested}.`), ...exclusionLines(plan, dates)].join('\n')
}

/**
 * `--dry-run`: the runs (their dates, key and run id), what each runs, and per date what is cleared, recovered or
 * skipped and why: exactly what the apply loop will do.
 */
export function planText(plan: BackfillPlan, dates: DagDateLabels, pools: readonly PoolUse[]): string {
  if (plan.runs.length === 0) return noDatesText(plan, dates)
  const toRun = plan.runs.reduce((sum, run) => sum + run.tasks.length, 0)
  const lines = [
    bold(`Backfill plan for ${plan.dag_id}: ${runCountText(plan.runs)}, ${toRun} task instance(s) to run`),
    dim(`Requested: ${plan.requested}; tasks: ${plan.selected_tasks.join(', ')}`),
    ...exclusionLines(plan, dates),
    ...poolLines(pools),
    '',
  ]
  for (const run of plan.runs) {
    lines.push(`${runLabel(run, dates.labelOf)}  ${dim(run.run_id)}`)
    lines.push(`  run:     ${run.tasks.length > 0 ? run.tasks.join(', ') : dim('nothing')}`)
    for (const record of run.records) {
      const where = run.records.length > 1 && record.logical_date !== null ? ` ${dim(`[${dates.labelOf(record.logical_date)}]`)}` : ''
      const cleared = record.actions.flatMap((action) => (action.action === 'clear' ? [action.task_id] : []))
      if (cleared.length > 0) lines.push(`  clear:   ${cleared.join(', ')}${where}`)
      for (const action of record.actions) {
        if (action.action === 'recover') lines.push(`  recover: ${action.task_id} (left ${action.state} by a process that is gone)${where}`)
        if (action.action === 'skip') lines.push(dim(`  skip:    ${action.task_id} (${action.reason})`) + where)
      }
    }
  }

  lines.push('', dim('Dry run: nothing was written.'))
  return lines.join('\n')
}

/** What the plan's tasks would wait for now: a line per pool in use or not the default one. */
function poolLines(pools: readonly PoolUse[]): string[] {
  return worthSaying(pools).map((use) => {
    const text = `${use.tasks.join(', ')}: ${use.used >= use.slots ? waitText(use) : `pool ${use.pool} (${use.used}/${use.slots} in use)`}`
    return use.used >= use.slots ? warn(text) : dim(text)
  })
}
