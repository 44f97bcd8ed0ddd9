import {resolve} from 'node:path'

import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {commandContext} from '../../cli/context.js'
import {UpdraftError} from '../../core/errors.js'
import {copyState} from '../../core/state/copy-state.js'
import {describeStore, isDatabaseUrl, openStore} from '../../core/state/open-store.js'

export default class DbCopy extends BaseCommand {
  static override args = {
    from: Args.string({description: 'The store to copy: an embedded store\'s file (e.g. .updraft/db.json) or a postgresql:// URL.', required: true}),
    to: Args.string({description: 'An empty store to copy into, of either kind.', required: true}),
  }

  static override description = 'Copies every run and task instance, every backfill record under its id, the DAG settings and the pools. Task log files stay where they are. Stop backfills and the scheduler on FROM first.'

  static override enableJsonFlag = true

  static override examples = [
    '<%= config.bin %> <%= command.id %> .updraft/db.json postgresql://updraft@db.internal:5432/updraft',
    '<%= config.bin %> <%= command.id %> postgresql://updraft@db.internal:5432/updraft backup/db.json',
  ]

  static override summary = 'Copy a whole state between stores: the embedded store and PostgreSQL, either way.'

  public async run(): Promise<unknown> {
    const {args, flags} = await this.parse(DbCopy)
    const {clock, process: processInfo} = commandContext(flags)
    const [from, to] = [args.from, args.to].map((store) => (isDatabaseUrl(store) ? store : resolve(store))) as [string, string]
    if (from === to) throw new UpdraftError('USAGE', `Expected two different stores, got ${describeStore(from)} twice.`, {exit: 2})
    const started = clock().getTime()
    const open = (db: string, writer: null | string) => openStore(db, {clock, process: processInfo, writer})
    const copied = await copyState(await open(from, null), await open(to, null), (writer) => open(to, writer), {from: describeStore(from), to: describeStore(to)})
    if (!this.jsonEnabled()) {
      this.log(`Copied ${copied.runs} run(s) of ${copied.dags} DAG(s), ${copied.backfills} backfill record(s), the settings of ${copied.settings} DAG(s) and ${copied.pools} pool(s) from ${describeStore(from)} to ${describeStore(to)} in ${clock().getTime() - started} ms.`)
    }

    return {...copied, from: describeStore(from), to: describeStore(to)}
  }
}
