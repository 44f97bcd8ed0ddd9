import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {commandContext} from '../../cli/context.js'
import {describeDag} from '../../core/dag/describe.js'
import {loadDag} from '../../core/loader/load-dags.js'
import {labelerFor} from '../../core/schedule/resolve-dates.js'
import {dagShowText} from '../../render/dag-text.js'

export default class DagsShow extends BaseCommand {
  static override args = {
    dag_id: Args.string({description: 'Id of the DAG.', required: true}),
  }

  static override enableJsonFlag = true

  static override examples = ['<%= config.bin %> <%= command.id %> sales_pipeline', '<%= config.bin %> <%= command.id %> sales_pipeline --ticks 10 --json']

  static override flags = {
    ticks: Flags.integer({default: 5, min: 0, summary: 'How many upcoming ticks to list.'}),
  }

  static override summary = "Show a DAG's task graph, schedule and next ticks."

  public async run(): Promise<unknown> {
    const {args, flags} = await this.parse(DagsShow)
    const context = commandContext(flags)
    const dag = await loadDag(context.dagsFolder, args.dag_id)
    this.warnAbout([dag])
    const description = describeDag(dag, context.clock(), flags.ticks)
    if (!this.jsonEnabled()) this.log(dagShowText(description, labelerFor(dag)))
    return description
  }
}
