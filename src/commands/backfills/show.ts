import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {commandContext, outputWidth} from '../../cli/context.js'
import {dagOfRecords, readBackfills} from '../../core/state/readers.js'
import {backfillRuns, progressOf, recordCounts, recordDocument, selectionText} from '../../core/state/backfills.js'
import {recordLabel} from '../../core/run/run-spec.js'
import {backfillText} from '../../render/backfills-text.js'
import {colourEnabled} from '../../render/format.js'
import {gridText} from '../../render/grid.js'

export default class BackfillsShow extends BaseCommand {
  static override args = {
    id: Args.string({description: 'Id of the backfill (see backfills list).', required: true}),
  }

  static override enableJsonFlag = true

  static override examples = ['<%= config.bin %> <%= command.id %> 3', '<%= config.bin %> <%= command.id %> 3 --json']

  static override summary = 'Show a backfill: its request, state, and the task × run grid of its task instances.'

  public async run(): Promise<unknown> {
    const {args, flags} = await this.parse(BackfillsShow)
    const context = commandContext(flags)
    const {find, stateOf} = await readBackfills(context)
    const record = await find(args.id)
    const state = await stateOf(record.dag_id)
    const runs = backfillRuns(record, state)
    if (!this.jsonEnabled()) {
      const recorded = await dagOfRecords(context, record.dag_id, async () => true)
      const tasks = recorded.dag?.tasks.map((task) => task.taskId) ?? [...new Set(runs.flatMap((run) => Object.keys(run.task_instances)))]
      const columns = runs.map((run) => ({label: recordLabel(run, recorded.labelOf), task_instances: run.task_instances}))
      this.log(backfillText(record, {counts: recordCounts(record, record.run_ids, state), progress: progressOf(record, state), selection: selectionText(record.request)}))
      this.log('')
      this.log(gridText(tasks, columns, {colour: colourEnabled(), width: outputWidth()}))
    }

    return {...recordDocument(record), runs}
  }
}
