import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {commandContext} from '../../cli/context.js'
import {openSharedStore} from '../../core/state/readers.js'

export default class PoolsDelete extends BaseCommand {
  static override args = {
    name: Args.string({description: 'The pool to delete; default_pool cannot be deleted.', required: true}),
  }

  static override description = 'Running tasks of the pool finish; task instances still waiting for it fail with reason pool, and backfills that name it are refused until it exists again.'

  static override enableJsonFlag = true

  static override examples = ['<%= config.bin %> <%= command.id %> warehouse']

  static override summary = 'Delete a pool.'

  public async run(): Promise<unknown> {
    const {args, flags} = await this.parse(PoolsDelete)
    await (await openSharedStore(commandContext(flags))).pools.delete(args.name)
    if (!this.jsonEnabled()) this.log(`Deleted pool ${args.name}.`)
    return {deleted: args.name}
  }
}
