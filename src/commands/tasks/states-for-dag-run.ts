import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {commandContext} from '../../cli/context.js'
import {readRecordedDag} from '../../core/state/readers.js'
import {partitionFlag} from '../../cli/flags.js'
import {UpdraftError} from '../../core/errors.js'
import {recordLabel} from '../../core/run/run-spec.js'
import {findRun} from '../../core/state/queries.js'
import {taskInstancesText} from '../../render/state-text.js'

export default class TasksStatesForDagRun extends BaseCommand {
  static override args = {
    dag_id: Args.string({description: 'Id of the DAG.', required: true}),
    run: Args.string({description: 'Logical date (read in the DAG time zone) or run id; a key-only DAG needs only --partition.'}),
  }

  static override enableJsonFlag = true

  static override examples = [
    '<%= config.bin %> <%= command.id %> sales_pipeline 2024-01-03',
    "<%= config.bin %> <%= command.id %> sales_pipeline 'backfill__2024-01-03T00:00:00+00:00' --json",
    '<%= config.bin %> <%= command.id %> regional_sales 2024-05-02 --partition eu',
  ]

  static override flags = {
    partition: partitionFlag(),
  }

  static override summary = 'Show the task instances of one DAG run: state, try, start, end, duration, reason.'

  public async run(): Promise<unknown> {
    const {args, flags} = await this.parse(TasksStatesForDagRun)
    const context = commandContext(flags)
    const recorded = await readRecordedDag(context, args.dag_id)
    if (args.run === undefined && flags.partition === undefined) {
      throw new UpdraftError('USAGE', `Expected a logical date or run id${recorded.dag?.partitions.length ? ', or --partition KEY' : ''} after ${args.dag_id}, got neither.`, {exit: 2})
    }

    const run = findRun(recorded, args.dag_id, {partitionKey: flags.partition ?? null, run: args.run ?? null})
    const taskInstances = Object.entries(run.task_instances).map(([taskId, ti]) => ({
      duration_ms: ti.duration_ms,
      end_date: ti.end_date,
      exit_code: ti.exit_code,
      log_path: ti.log_path,
      reason: ti.reason,
      start_date: ti.start_date,
      state: ti.state,
      batch_run_id: ti.batch_run_id,
      task_id: taskId,
      try_number: ti.try_number,
    }))
    const label = recordLabel(run, recorded.labelOf)
    if (!this.jsonEnabled()) this.log(taskInstancesText({label, run_id: run.run_id, state: run.state}, taskInstances))
    return {dag_id: args.dag_id, logical_date: run.logical_date, partition_key: run.partition_key, run_id: run.run_id, state: run.state, task_instances: taskInstances}
  }
}
