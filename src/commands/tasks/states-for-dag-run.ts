import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {commandContext, readOnlyStore} from '../../cli/context.js'
import {loadDag} from '../../core/loader/load-dags.js'
import {findRunByReference} from '../../core/state/queries.js'
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
    const state = await (await readOnlyStore(context)).readDag(args.dag_id)
    const run = await findRunByReference(state, args.dag_id, args.run, async () => (await loadDag(context.dagsFolder, args.dag_id)).timezone)
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
    if (!this.jsonEnabled()) this.log(taskInstancesText(run.run_id, run.state, taskInstances))
    return {dag_id: args.dag_id, logical_date: run.logical_date, run_id: run.run_id, state: run.state, task_instances: taskInstances}
  }
}
