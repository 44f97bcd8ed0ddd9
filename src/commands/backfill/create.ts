import {Flags} from '@oclif/core'

import {planOnly, settingsOfFlags} from '../../cli/backfill-flags.js'
import {BaseCommand} from '../../cli/base-command.js'
import {commandContext} from '../../cli/context.js'
import {dateFlag, executorFlags, jsonObjectFlag, positiveIntegerFlag} from '../../cli/flags.js'
import {queueRequest} from '../../cli/requests.js'
import {loadDag} from '../../core/loader/load-dags.js'
import {BackfillSession} from '../../core/session/backfill-session.js'
import {backfillRequestOf} from '../../core/session/launch.js'

export default class BackfillCreate extends BaseCommand {
  static override description = "Airflow 3's `airflow backfill create`: the same flags, validated as dags backfill validates its own. --reprocess-behavior none fills the blanks, failed re-runs what failed (--rerun-failed-tasks), completed runs everything again (--reset-dagruns, without a prompt)."

  static override enableJsonFlag = true

  static override examples = [
    '<%= config.bin %> <%= command.id %> --dag-id sales_pipeline --from-date 2024-01-01 --to-date 2024-03-31',
    '<%= config.bin %> <%= command.id %> --dag-id sales_pipeline --from-date 2024-01-01 --to-date 2024-01-31 --reprocess-behavior failed --max-active-runs 4 --wait',
  ]

  static override flags = {
    ...executorFlags,
    'dag-id': Flags.string({required: true, summary: 'Id of the DAG to backfill.'}),
    'dag-run-conf': jsonObjectFlag({summary: 'JSON object merged into the DAG params, e.g. \'{"region":"us"}\'.'}),
    'dry-run': Flags.boolean({summary: 'Print the plan and record nothing.'}),
    'from-date': dateFlag({required: true, summary: 'First logical date (inclusive), in the DAG\'s time zone unless it carries Z or an offset.'}),
    'max-active-runs': positiveIntegerFlag({summary: 'Logical dates in flight at once (overrides the DAG\'s max_active_runs).'}),
    parallelism: positiveIntegerFlag({summary: 'With --wait: shell tasks and callables running at once here (default: number of CPUs).'}),
    'reprocess-behavior': Flags.string({default: 'none', options: ['none', 'failed', 'completed'], summary: 'What to run again of what already ran: none, failed, or completed (everything).'}),
    'run-backwards': Flags.boolean({summary: 'Run the newest logical date first (refused with depends_on_past).'}),
    'to-date': dateFlag({required: true, summary: 'Last logical date (inclusive).'}),
    wait: Flags.boolean({summary: 'Follow the request until it ends, running it here unless a scheduler took it first, and exit as dags backfill would.'}),
  }

  static override summary = 'Record a backfill request for the scheduler to run (Airflow 3 spelling), print its id and return.'

  public async run(): Promise<unknown> {
    const {flags} = await this.parse(BackfillCreate)
    const context = commandContext(flags)
    const dag = await loadDag(context.dagsFolder, flags['dag-id'])
    this.warnAbout([dag])
    const reprocess = flags['reprocess-behavior']
    const selected = backfillRequestOf(dag, {endDate: flags['to-date'], startDate: flags['from-date']}, {rerunFailedTasks: reprocess === 'failed', resetDagRuns: reprocess === 'completed', runBackwards: flags['run-backwards']})
    // Errors about the range name the flags this spelling has.
    const request = selected.dates?.kind === 'range' ? {...selected, dates: {...selected.dates, flags: {end: '--to-date', start: '--from-date'}}} : selected
    const session = await BackfillSession.plan(dag, request, context)
    const output = {json: this.jsonEnabled(), log: (text: string) => this.log(text)}
    if (flags['dry-run'] || session.plan.runs.length === 0) return planOnly(session, flags['dry-run'], output)
    const settings = settingsOfFlags(dag, {...flags, conf: flags['dag-run-conf'], 'disable-retry': false, 'ignore-dependencies': false, 'mark-success': false, 'rerun-failed-tasks': false, 'reset-dagruns': false})
    return queueRequest(session, settings, context, {...output, wait: flags.wait})
  }
}
