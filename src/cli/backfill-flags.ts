import {availableParallelism} from 'node:os'

import {Flags} from '@oclif/core'

import type {Dag} from '../core/dag/model.js'
import {type BackfillRequest, dryRunDocument} from '../core/planner/plan-backfill.js'
import {labelerFor} from '../core/schedule/resolve-dates.js'
import {type BackfillSession, type RunSettings, worthSaying} from '../core/session/backfill-session.js'
import {noDatesText, planText} from '../render/plan-text.js'
import {backfillRequestOf} from '../core/session/launch.js'
import {batchSizeFlag, executorFlags, executorOf, jsonObjectFlag, positiveIntegerFlag, regexFlag, selectionFlags, selectionOf} from './flags.js'

/** What a backfill is, as `dags backfill` and `backfills create` take it: the selection and how it runs. */
export const backfillFlags = {
  ...selectionFlags,
  ...executorFlags,
  'batch-size': batchSizeFlag({summary: 'Dates per run: an integer >= 1 or "all" (overrides the DAG\'s backfill_policy; 1 is one run per date).'}),
  conf: jsonObjectFlag({char: 'c', summary: 'JSON object merged into the DAG params, e.g. \'{"region":"us"}\'.'}),
  'disable-retry': Flags.boolean({summary: 'Fail a task instance on its first failure, ignoring retries.'}),
  'dry-run': Flags.boolean({summary: 'Print the plan (dates, tasks, what is skipped and why) and change nothing.'}),
  'ignore-dependencies': Flags.boolean({char: 'i', dependsOn: ['task-regex'], summary: 'With -t, run only the matching tasks and treat their upstreams as satisfied.'}),
  'mark-success': Flags.boolean({char: 'm', summary: 'Mark the selected task instances success without running them.'}),
  'max-active-runs': positiveIntegerFlag({summary: 'Logical dates in flight at once (overrides the DAG\'s max_active_runs).'}),
  parallelism: positiveIntegerFlag({summary: 'Shell tasks running at once, and callables running at once (default: number of CPUs).'}),
  'rerun-failed-tasks': Flags.boolean({summary: 'Re-run failed and upstream_failed task instances and their downstream.'}),
  'reset-dagruns': Flags.boolean({aliases: ['reset_dagruns'], summary: 'Clear every selected task instance in the selected dates and run it again.'}),
  'run-backwards': Flags.boolean({char: 'B', summary: 'Run the newest logical date first (refused with depends_on_past).'}),
  'task-regex': regexFlag({char: 't', summary: 'Run tasks whose id matches this regex (search; anchor with ^…$), plus their upstream.'}),
}

type BackfillFlagValues = Parameters<typeof selectionOf>[0] & {
  'batch-size'?: null | number | undefined
  conf?: Record<string, unknown> | undefined
  'disable-retry': boolean
  executor: string
  'ignore-dependencies': boolean
  'mark-success': boolean
  'max-active-runs'?: number | undefined
  parallelism?: number | undefined
  queue: string
  'redis-url': string
  'rerun-failed-tasks': boolean
  'reset-dagruns': boolean
  'run-backwards': boolean
  'task-regex'?: RegExp | undefined
}

/** The planner's request the flags ask for. */
export function requestOfFlags(dag: Dag, flags: BackfillFlagValues): BackfillRequest {
  return backfillRequestOf(dag, selectionOf(flags), {
    batchSize: flags['batch-size'],
    ignoreDependencies: flags['ignore-dependencies'],
    rerunFailedTasks: flags['rerun-failed-tasks'],
    resetDagRuns: flags['reset-dagruns'],
    runBackwards: flags['run-backwards'],
    taskRegex: flags['task-regex'] ?? null,
  })
}

/** How the flags say the backfill runs. */
export function settingsOfFlags(dag: Dag, flags: BackfillFlagValues): RunSettings {
  return {
    conf: flags.conf ?? {},
    disableRetry: flags['disable-retry'],
    executor: executorOf(flags),
    markSuccess: flags['mark-success'],
    maxActiveRuns: flags['max-active-runs'] ?? dag.maxActiveRuns,
    parallelism: flags.parallelism ?? availableParallelism(),
  }
}

/**
 * `--dry-run` (or a plan with no dates): the plan as text or the `--json` document, with the pools it would wait for
 * when there is something to say.
 */
export function planOnly(session: BackfillSession, dryRun: boolean, output: {json: boolean; log: (text: string) => void}) {
  const {dag, plan, pools} = session
  const labelOf = labelerFor(dag)
  const dateLabels = {endDate: dag.endDate === null ? null : labelOf(dag.endDate), labelOf, startDate: dag.startDate === null ? null : labelOf(dag.startDate)}
  if (!output.json) output.log(dryRun ? planText(plan, dateLabels, pools) : noDatesText(plan, dateLabels))
  const waits = worthSaying(pools).map((use) => ({...use, full: use.used >= use.slots}))
  return {...dryRunDocument(plan), ...(waits.length > 0 ? {pools: waits} : {})}
}
