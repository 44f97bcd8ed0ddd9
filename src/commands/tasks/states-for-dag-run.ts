import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {commandContext, readRecordedDag} from '../../cli/context.js'
import {findRun} from '../../core/state/queries.js'
import {taskInstancesText} from '../../render/state-text.js'

export default class TasksStatesForDagRun extends BaseCommand {
  static override args = {
    dag_id: Args.string({description: 'Id of the DAG.', required: true}),
    run: Args.string({description: 'Logical date (read in the DAG time zone) or run id.', required: true}),
  }

  static override enableJsonFlag = true

  static override examples = [
    '<%= config.bin %> <%= command.id %> sales_pipeline 2024-01-03',
    "<%= config.bin %> <%= command.id %> sales_pipeline 'backfill__2024-01-03T00:00:00+00:00' --json",
  ]

  static override summary = 'Show the task instances of one DAG run: state, try, start, end, duration, reason.'

  public async run(): Promise<unknown> {
    const {args, flags} = await this.parse(TasksStatesForDagRun)
    const context = commandContext(flags)
    const recorded = await readRecordedDag(context, args.dag_id)
    const run = findRun(recorded.state, args.dag_id, args.run, recorded.timezone)
    const taskInstances = Object.entries(run.task_instances).map(([taskId, ti]) => ({
      duration_ms: ti.duration_ms,
      end_date: ti.end_date,
      exit_code: ti.exit_code,
      log_path: ti.log_path,
      reason: ti.reason,
      start_date: ti.start_date,
      state: ti.state,
      task_id: taskId,
      try_number: ti.try_number,
    }))
    if (!this.jsonEnabled()) this.log(taskInstancesText({label: recorded.labelOf(run.logical_date), run_id: run.run_id, state: run.state}, taskInstances))
    return {dag_id: args.dag_id, logical_date: run.logical_date, run_id: run.run_id, state: run.state, task_instances: taskInstances}
  }
}
