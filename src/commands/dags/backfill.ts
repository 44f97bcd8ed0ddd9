import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {commandContext} from '../../cli/context.js'
import {backfillFlags, planOnly, requestOfFlags, settingsOfFlags} from '../../cli/backfill-flags.js'
import {UpdraftError} from '../../core/errors.js'
import {loadDag} from '../../core/loader/load-dags.js'
import type {BackfillPlan} from '../../core/planner/plan-backfill.js'
import {confirm} from '../../cli/confirm.js'
import {runInForeground} from '../../cli/run-session.js'
import {BackfillSession} from '../../core/session/backfill-session.js'

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
    ...backfillFlags,
    yes: Flags.boolean({char: 'y', summary: 'Do not ask for confirmation (required with --reset-dagruns without a TTY).'}),
  }

  static override summary = 'Backfill a DAG over a range or list of logical dates.'

  public async run(): Promise<unknown> {
    const {args, flags} = await this.parse(DagsBackfill)
    const context = commandContext(flags)
    const dag = await loadDag(context.dagsFolder, args.dag_id)
    this.warnAbout([dag])
    const request = requestOfFlags(dag, flags)
    const session = await BackfillSession.plan(dag, request, context)
    if (flags['dry-run'] || session.plan.runs.length === 0) return planOnly(session, flags['dry-run'], {json: this.jsonEnabled(), log: (text) => this.log(text)})

    await this.confirmReset(session.plan, flags)
    const settings = settingsOfFlags(dag, flags)
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

    // Declining is an answer, not a mistake on the command line: its own code, and the exit of a refusal.
    if (!(await confirm(question))) throw new UpdraftError('CONFIRMATION_DECLINED', 'Expected confirmation to clear task instances, got no; nothing was changed.')
  }
}
