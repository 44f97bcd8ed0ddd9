import {BaseCommand} from '../../cli/base-command.js'
import {commandContext} from '../../cli/context.js'
import {openSharedStore} from '../../core/state/readers.js'
import {poolsText} from '../../render/pools-text.js'

export default class PoolsList extends BaseCommand {
  static override enableJsonFlag = true

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']

  static override summary = 'List pools: slots, running and queued task instances holding them, open slots, and how many wait.'

  public async run(): Promise<unknown> {
    const {flags} = await this.parse(PoolsList)
    const pools = await (await openSharedStore(commandContext(flags))).pools.list()
    if (!this.jsonEnabled()) this.log(poolsText(pools))
    return pools
  }
}
