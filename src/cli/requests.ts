import {setTimeout as sleep} from 'node:timers/promises'

import {isUpdraftError} from '../core/errors.js'
import {loadDag} from '../core/loader/load-dags.js'
import {BackfillSession, giveBackRequest, type RunSettings, settingsOf, takeRequest, UNTAKEN} from '../core/session/backfill-session.js'
import {recordDocument} from '../core/state/backfills.js'
import {openSharedStore, readBackfills} from '../core/state/readers.js'
import type {BackfillRecord} from '../core/state/schema.js'
import type {CommandContext} from './context.js'
import {runInForeground} from './run-session.js'

/** How often `--wait` looks at a request another process took, or tries again to take one whose runs are owned. */
const FOLLOW_POLL_MS = 500
const ENDED = new Set(['cancelled', 'failed', 'interrupted', 'success'])

interface Output {
  json: boolean
  log: (text: string) => void
}

/**
 * Records the planned backfill as a queued request and prints its id; with `wait`, follows it to its end as
 * `dags backfill` would show it, taking it itself unless a scheduler already did.
 */
export async function queueRequest(session: BackfillSession, settings: RunSettings, context: CommandContext, options: Output & {wait: boolean}): Promise<unknown> {
  const record = await session.queue(settings)
  if (!options.wait) {
    if (!options.json) options.log(`Backfill ${record.id} of ${record.dag_id} queued: ${record.run_ids.length} run(s). updraft scheduler runs it; updraft backfills show ${record.id} follows it.`)
    return recordDocument(record)
  }

  return followRequest(record, settings, context, options)
}

async function followRequest(queued: BackfillRecord, machine: Pick<RunSettings, 'executor' | 'parallelism'>, context: CommandContext, output: Output): Promise<unknown> {
  const store = await openSharedStore(context)
  let said = queued.state
  let toldWaiting = false
  for (;;) {
    const taken = await takeRequest(store, queued.id, context.process)
    if (taken) {
      const dag = await loadDag(context.dagsFolder, taken.dag_id)
      try {
        return await runInForeground(await BackfillSession.resume(dag, taken, context), settingsOf(taken.request, machine), output)
      } catch (error) {
        await giveBackRequest(store, taken, UNTAKEN)
        // Another backfill owns some of its runs: it waits for them, as the scheduler would have it wait.
        if (!isUpdraftError(error) || error.code !== 'BACKFILL_LOCKED') throw error
        if (!output.json && !toldWaiting) output.log(`Backfill ${queued.id} waits for runs another backfill owns: ${error.summary}`)
        toldWaiting = true
      }
    }

    const current = await (await readBackfills(context)).find(String(queued.id))
    if (current.state !== said && !output.json) output.log(`Backfill ${current.id} of ${current.dag_id}: ${current.state}${current.pid > 0 ? ` (pid ${current.pid} on ${current.host})` : ''}`)
    said = current.state
    if (ENDED.has(current.state)) {
      process.exitCode = current.state === 'success' ? 0 : 1
      return recordDocument(current)
    }

    await sleep(FOLLOW_POLL_MS)
  }
}
