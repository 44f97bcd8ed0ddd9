import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {commandContext} from '../../cli/context.js'
import {readRecordedDag} from '../../core/state/readers.js'
import {listRuns} from '../../core/state/queries.js'
import {runsText} from '../../render/state-text.js'

export default class DagsListRuns extends BaseCommand {
  static override args = {
    dag_id: Args.string({description: 'Id of the DAG.', required: true}),
  }

  static override enableJsonFlag = true

  static override examples = ['<%= config.bin %> <%= command.id %> sales_pipeline', '<%= config.bin %> <%= command.id %> sales_pipeline --state failed --json']

  static override flags = {
    state: Flags.string({options: ['queued', 'running', 'success', 'failed'], summary: 'Only runs in this state.'}),
  }

  static override summary = 'List the recorded runs of a DAG with state, start, end and duration.'

  public async run(): Promise<unknown> {
    const {args, flags} = await this.parse(DagsListRuns)
    const context = commandContext(flags)
    const recorded = await readRecordedDag(context, args.dag_id)
    const runs = listRuns(recorded.state, flags.state ?? null, recorded.partitions)
    if (!this.jsonEnabled()) this.log(runsText(args.dag_id, runs, {labelOf: recorded.labelOf, recorded: Object.keys(recorded.state.runs).length, state: flags.state ?? null}))
    return {dag_id: args.dag_id, runs}
  }
}
