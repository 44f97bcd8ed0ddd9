import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {commandContext} from '../../cli/context.js'
import {UpdraftError} from '../../core/errors.js'
import {openSharedStore} from '../../core/state/readers.js'
import {poolsText} from '../../render/pools-text.js'

export default class PoolsSet extends BaseCommand {
  static override args = {
    name: Args.string({description: 'The pool: letters, digits, "_", "-" or ".".', required: true}),
    slots: Args.string({description: 'How many slots it has: task instances hold pool_slots of them from queued until they end.', required: true}),
  }

  static override description = 'Every process that shares the state store honours the pool: backfills, the scheduler and their tries on workers. Shrinking a pool under running tasks lets them finish; waiting ones then need the smaller size.'

  static override enableJsonFlag = true

  static override examples = ['<%= config.bin %> <%= command.id %> warehouse 4 --description "4 concurrent queries"', '<%= config.bin %> <%= command.id %> default_pool 32']

  static override flags = {
    description: Flags.string({summary: 'What the pool protects.'}),
  }

  static override summary = 'Create a pool or change its size.'

  public async run(): Promise<unknown> {
    const {args, flags} = await this.parse(PoolsSet)
    if (!/^\d+$/.test(args.slots)) throw new UpdraftError('INVALID_POOL', `Expected SLOTS to be a positive integer, got ${JSON.stringify(args.slots)}.`, {exit: 2})
    const store = await openSharedStore(commandContext(flags))
    const pool = await store.pools.set(args.name, Number(args.slots), flags.description ?? null)
    if (!this.jsonEnabled()) this.log(poolsText([pool]))
    return pool
  }
}
