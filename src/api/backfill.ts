import {availableParallelism} from 'node:os'

import {commandContext} from '../cli/context.js'
import {UpdraftError} from '../core/errors.js'
import type {BackfillEvent} from '../core/events.js'
import {loadDag} from '../core/loader/load-dags.js'
import {type BackfillDocument, type BackfillRunOptions, launchBackfill} from '../core/session/launch.js'

/** Options of `backfill()` (README "Launching from code"): what `updraft dags backfill` takes as flags, named as in JavaScript. */
export interface BackfillOptions extends BackfillRunOptions {
  dagId: string
  /** The DAGs folder; default `UPDRAFT_DAGS_FOLDER`, else `./dags`, as for the CLI. */
  dagsFolder?: string | undefined
  /** The state file; default `UPDRAFT_DB`, else `./.updraft/db.json`, as for the CLI. */
  db?: string | undefined
  /** Where tries run: here (`local`, the default) or on `updraft worker` processes over Redis. */
  executor?: 'bullmq' | 'local' | {kind: 'bullmq'; queue?: string | undefined; redisUrl?: string | undefined} | undefined
  /** Receives every event of the backfill (runs starting and finishing, task instances changing state). */
  onEvent?: ((event: BackfillEvent) => void) | undefined
  /** Stops the backfill the way Ctrl-C stops the CLI; the promise then resolves with what was done. */
  signal?: AbortSignal | undefined
}

const CALLER_OPTIONS = ['dagId', 'dagsFolder', 'db', 'executor', 'onEvent', 'signal'] as const satisfies ReadonlyArray<keyof BackfillOptions>

/**
 * Backfills a DAG from code, exactly as `updraft dags backfill` would: the same plan, state rules, record and
 * `--json` document (with `backfill_id`). A bad request rejects with an `UpdraftError` whose `code` is the CLI's
 * `Code:`. An aborted backfill resolves: its document says which runs finished and which did not.
 */
export async function backfill(options: BackfillOptions): Promise<BackfillDocument> {
  if (typeof options?.dagId !== 'string') throw new UpdraftError('USAGE', `Expected options.dagId to be the id of a DAG, got ${JSON.stringify(options?.dagId) ?? 'undefined'}.`, {exit: 2})
  const executor = options.executor ?? process.env.UPDRAFT_EXECUTOR ?? 'local'
  if (executor !== 'local' && executor !== 'bullmq' && (typeof executor !== 'object' || executor.kind !== 'bullmq')) {
    throw new UpdraftError('USAGE', `Expected executor to be 'local', 'bullmq' or {kind: 'bullmq', redisUrl, queue}, got ${JSON.stringify(executor)}.`, {exit: 2})
  }

  const context = commandContext({'dags-folder': options.dagsFolder ?? process.env.UPDRAFT_DAGS_FOLDER, db: options.db ?? process.env.UPDRAFT_DB})
  const dag = await loadDag(context.dagsFolder, options.dagId)
  const {document} = await launchBackfill(dag, options, context, {
    executor:
      executor === 'local'
        ? {kind: 'local'}
        : {
            kind: 'bullmq',
            queue: (typeof executor === 'object' ? executor.queue : undefined) ?? process.env.UPDRAFT_QUEUE ?? 'updraft',
            url: (typeof executor === 'object' ? executor.redisUrl : undefined) ?? process.env.UPDRAFT_REDIS_URL ?? 'redis://127.0.0.1:6379',
          },
    known: CALLER_OPTIONS,
    listener: options.onEvent ?? (() => {}),
    notice: (text) => process.stderr.write(`${text}\n`),
    parallelism: availableParallelism(),
    signal: options.signal ?? new AbortController().signal,
  })
  return document
}
