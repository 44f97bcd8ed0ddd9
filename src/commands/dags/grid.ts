import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {commandContext, outputWidth} from '../../cli/context.js'
import {readRecordedDag} from '../../core/state/readers.js'
import {selectionFlags, selectionOf} from '../../cli/flags.js'
import {UpdraftError} from '../../core/errors.js'
import {existingRunsOf, planBackfill} from '../../core/planner/plan-backfill.js'
import {recordLabel} from '../../core/run/run-spec.js'
import {backfillRequestOf} from '../../core/session/launch.js'
import {colourEnabled} from '../../render/format.js'
import {gridText} from '../../render/grid.js'

export default class DagsGrid extends BaseCommand {
  static override args = {
    dag_id: Args.string({description: 'Id of the DAG.', required: true}),
  }

  static override enableJsonFlag = true

  static override examples = [
    '<%= config.bin %> <%= command.id %> sales_pipeline -s 2024-01-01 -e 2024-01-31',
    '<%= config.bin %> <%= command.id %> regional_sales -s 2024-05-01 -e 2024-05-07 --partitions eu,apac --json',
  ]

  static override flags = selectionFlags

  static override summary = 'Show task instance states as a task × run grid over dates (and partition keys).'

  public async run(): Promise<unknown> {
    const {args, flags} = await this.parse(DagsGrid)
    const context = commandContext(flags)
    const recorded = await readRecordedDag(context, args.dag_id)
    const {dag} = recorded
    if (dag === null) throw new UpdraftError('DAG_NOT_FOUND', `Expected DAG ${args.dag_id} to load to know its dates, got its file missing or broken.`)
    // The runs a backfill of this selection would cover, one column per date (and key), whatever state they are in.
    const request = backfillRequestOf(dag, selectionOf(flags), {batchSize: 1})
    const plan = planBackfill(dag, request, context.clock(), existingRunsOf(recorded.state))
    const runs = plan.runs.flatMap((run) =>
      run.records.map((planned) => {
        const stored = recorded.state.runs[planned.run_id]
        return {
          logical_date: planned.logical_date,
          partition_key: run.partition_key,
          run_id: planned.run_id,
          state: stored?.state ?? 'none',
          task_instances: Object.fromEntries(dag.tasks.map((task) => [task.taskId, stored?.task_instances[task.taskId]?.state ?? 'none'])),
        }
      }),
    )
    if (!this.jsonEnabled()) {
      const columns = runs.map((run) => ({label: recordLabel(run, recorded.labelOf), task_instances: run.task_instances}))
      this.log(gridText(dag.tasks.map((task) => task.taskId), columns, {colour: colourEnabled(), width: outputWidth()}))
    }

    return {dag_id: dag.dagId, tasks: dag.tasks.map((task) => task.taskId), runs}
  }
}
