import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {commandContext} from '../../cli/context.js'
import {loadDag} from '../../core/loader/load-dags.js'

export default class TasksList extends BaseCommand {
  static override args = {
    dag_id: Args.string({description: 'Id of the DAG.', required: true}),
  }

  static override enableJsonFlag = true

  static override examples = ['<%= config.bin %> <%= command.id %> sales_pipeline']

  static override summary = 'List the task ids of a DAG in topological order (ties by id).'

  public async run(): Promise<unknown> {
    const {args, flags} = await this.parse(TasksList)
    const dag = await loadDag(commandContext(flags).dagsFolder, args.dag_id)
    const taskIds = dag.tasks.map((task) => task.taskId)
    if (!this.jsonEnabled()) this.log(taskIds.join('\n'))
    return {dag_id: dag.dagId, tasks: taskIds}
  }
}
