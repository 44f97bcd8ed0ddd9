import {Args, Flags} from '@oclif/core'

import {backfillFlags, planOnly, requestOfFlags, settingsOfFlags} from '../../cli/backfill-flags.js'
import {BaseCommand} from '../../cli/base-command.js'
import {commandContext} from '../../cli/context.js'
import {queueRequest} from '../../cli/requests.js'
import {loadDag} from '../../core/loader/load-dags.js'
import {BackfillSession} from '../../core/session/backfill-session.js'

export default class BackfillsCreate extends BaseCommand {
  static override args = {
    dag_id: Args.string({description: 'Id of the DAG to backfill.', required: true}),
  }

  static override description = 'Takes the flags of dags backfill and refuses what it would refuse, with the same codes; --reset-dagruns needs no confirmation. The request waits, queued, for updraft scheduler (or --wait) to run it as backfills resume would; backfills pause, unpause and cancel act on it meanwhile.'

  static override enableJsonFlag = true

  static override examples = ['<%= config.bin %> <%= command.id %> sales_pipeline -s 2024-01-01 -e 2024-03-31', '<%= config.bin %> <%= command.id %> regional_sales -s 2024-05-01 -e 2024-05-07 --partitions eu,apac --wait']

  static override flags = {
    ...backfillFlags,
    wait: Flags.boolean({summary: 'Follow the request until it ends, running it here unless a scheduler took it first, and exit as dags backfill would.'}),
  }

  static override summary = 'Record a backfill request for the scheduler to run, print its id and return.'

  public async run(): Promise<unknown> {
    const {args, flags} = await this.parse(BackfillsCreate)
    const context = commandContext(flags)
    const dag = await loadDag(context.dagsFolder, args.dag_id)
    this.warnAbout([dag])
    const session = await BackfillSession.plan(dag, requestOfFlags(dag, flags), context)
    const output = {json: this.jsonEnabled(), log: (text: string) => this.log(text)}
    if (flags['dry-run'] || session.plan.runs.length === 0) return planOnly(session, flags['dry-run'], output)
    return queueRequest(session, settingsOfFlags(dag, flags), context, {...output, wait: flags.wait})
  }
}
