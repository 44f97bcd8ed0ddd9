import {availableParallelism} from 'node:os'

import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {commandContext} from '../../cli/context.js'
import {batchSizeFlag, executorFlags, executorOf, jsonObjectFlag, positiveIntegerFlag, regexFlag, selectionFlags, selectionOf} from '../../cli/flags.js'
import {UpdraftError} from '../../core/errors.js'
import {loadDag} from '../../core/loader/load-dags.js'
import {type BackfillPlan, dryRunDocument} from '../../core/planner/plan-backfill.js'
import {labelerFor} from '../../core/schedule/resolve-dates.js'
import {confirm} from '../../cli/confirm.js'
import {runInForeground} from '../../cli/run-session.js'
import {BackfillSession, worthSaying} from '../../core/session/backfill-session.js'
import {backfillRequestOf} from '../../core/session/launch.js'
import {noDatesText, planText} from '../../render/plan-text.js'

export default class DagsBackfill extends BaseCommand {
  static override args = {
    dag_id: Args.string({description: 'Id of the DAG to backfill.', required: true}),
  }

  static override description = `Runs the DAG's task graph once per logical date. -s/-e are inclusive and read in the DAG's time zone unless they carry Z or an offset. Dates whose interval has not ended, or that fall outside start_date/end_date, are excluded and counted. Task instances that already succeeded are not re-run.`

  static override enableJsonFlag = true

  static override examples = [
    '<%= config.bin %> <%= command.id %> sales_pipeline -s 2024-01-01 -e 2024-03-31',
    // Double quotes: the README generator reads `$'` in an example as a replacement pattern and cuts the line.
    '<%= config.bin %> <%= command.id %> api_ingestion -s 2024-03-10 -e 2024-03-12 -t "^ingest$"',
    '<%= config.bin %> <%= command.id %> api_ingestion -s 2024-03-10 -e 2024-03-12 -t "^ingest$" -i',
    '<%= config.bin %> <%= command.id %> transform -l 2024-06-05,2024-06-07 --reset-dagruns -y',
    '<%= config.bin %> <%= command.id %> transform -s 2024-06-01 -e 2024-06-30 --rerun-failed-tasks',
    `<%= config.bin %> <%= command.id %> sales_pipeline -s 2024-01-01 -e 2024-01-07 -c '{"region":"us"}' --max-active-runs 2`,
    '<%= config.bin %> <%= command.id %> sales_pipeline -s 2024-01-01 -e 2024-01-31 --dry-run --json',
    '<%= config.bin %> <%= command.id %> regional_sales -s 2024-05-01 -e 2024-05-07 --partitions eu,apac',
    '<%= config.bin %> <%= command.id %> regional_sales --from 2024-05-01 --to 2024-05-07 --batch-size all --dry-run',
  ]

  static override flags = {
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
    yes: Flags.boolean({char: 'y', summary: 'Do not ask for confirmation (required with --reset-dagruns without a TTY).'}),
  }

  static override summary = 'Backfill a DAG over a range or list of logical dates.'

  public async run(): Promise<unknown> {
    const {args, flags} = await this.parse(DagsBackfill)
    const context = commandContext(flags)
    const dag = await loadDag(context.dagsFolder, args.dag_id)
    this.warnAbout([dag])
    const request = backfillRequestOf(dag, selectionOf(flags), {
      batchSize: flags['batch-size'],
      ignoreDependencies: flags['ignore-dependencies'],
      rerunFailedTasks: flags['rerun-failed-tasks'],
      resetDagRuns: flags['reset-dagruns'],
      runBackwards: flags['run-backwards'],
      taskRegex: flags['task-regex'] ?? null,
    })
    const session = await BackfillSession.plan(dag, request, context)
    const labelOf = labelerFor(dag)
    const dateLabels = {endDate: dag.endDate === null ? null : labelOf(dag.endDate), labelOf, startDate: dag.startDate === null ? null : labelOf(dag.startDate)}
    if (flags['dry-run'] || session.plan.runs.length === 0) {
      if (!this.jsonEnabled()) this.log(flags['dry-run'] ? planText(session.plan, dateLabels, session.pools) : noDatesText(session.plan, dateLabels))
      const pools = worthSaying(session.pools).map((use) => ({...use, full: use.used >= use.slots}))
      return {...dryRunDocument(session.plan), ...(pools.length > 0 ? {pools} : {})}
    }

    await this.confirmReset(session.plan, flags)
    const maxActiveRuns = flags['max-active-runs'] ?? dag.maxActiveRuns
    const settings = {conf: flags.conf ?? {}, disableRetry: flags['disable-retry'], executor: executorOf(flags), markSuccess: flags['mark-success'], maxActiveRuns, parallelism: flags.parallelism ?? availableParallelism()}
    return runInForeground(session, settings, {json: this.jsonEnabled(), log: (text) => this.log(text)})
  }

  private async confirmReset(plan: BackfillPlan, flags: {'reset-dagruns': boolean; yes: boolean}): Promise<void> {
    const records = plan.runs.flatMap((run) => run.records)
    const clearing = records.reduce((sum, record) => sum + record.actions.filter((action) => action.action === 'clear').length, 0)
    if (!flags['reset-dagruns'] || flags.yes || clearing === 0) return
    const question = `You are about to clear ${clearing} task instance(s) of ${plan.dag_id} in ${records.length} run(s) and run them again. Are you sure?`
    if (!process.stdin.isTTY) {
      throw new UpdraftError('CONFIRMATION_REQUIRED', `Expected -y/--yes to clear ${clearing} task instance(s) without a terminal to confirm on, got no -y.`, {exit: 2, suggestions: ['Add -y to confirm --reset-dagruns.']})
    }

    if (!(await confirm(question))) throw new UpdraftError('CONFIRMATION_REQUIRED', 'Expected confirmation to clear task instances, got no; nothing was changed.')
  }
}
