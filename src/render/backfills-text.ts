import {isInProcess, ranForMs} from '../core/state/backfills.js'
import type {BackfillRecord} from '../core/state/schema.js'
import {dim, formatDuration, paintState, table} from './format.js'

/** What a record shows a person, listed or whole. */
type RecordShown = Omit<BackfillRecord, 'run_ids'>

const durationText = (ms: null | number) => (ms === null ? '-' : formatDuration(ms))

/** One line per record for `backfills list`. */
export function backfillsText(rows: ReadonlyArray<{progress: {done: number; total: number}; record: RecordShown; selection: string}>, now: Date): string {
  if (rows.length === 0) return dim('No backfills recorded.')
  return table(
    ['id', 'dag', 'selection', 'state', 'done', 'started', 'duration'],
    rows.map(({progress, record, selection}) => [
      String(record.id),
      record.dag_id,
      selection,
      paintState(record.state),
      `${progress.done}/${progress.total}`,
      record.created_at,
      durationText(ranForMs(record, now, isInProcess(record))),
    ]),
  )
}

/** The head of `backfills show`: what was asked, where it runs, how far it got. */
export function backfillText(record: RecordShown, details: {counts: RecordShown['counts']; progress: {done: number; total: number}; selection: string}): string {
  const counts = Object.entries(details.counts)
    .map(([state, count]) => `${count} ${paintState(state)}`)
    .join(', ')
  const flags = Object.entries(record.request)
    .filter(([, value]) => typeof value === 'boolean' && value)
    .map(([name]) => `--${name.replaceAll('_', '-')}`)
  return [
    `Backfill ${record.id} of ${record.dag_id}  ${paintState(record.state)}`,
    `  selection       ${details.selection || dim('every key')}${flags.length > 0 ? `  ${flags.join(' ')}` : ''}`,
    ...(Object.keys(record.request.tags ?? {}).length > 0 ? [`  tags            ${Object.entries(record.request.tags ?? {}).map(([name, value]) => `${name}: ${value}`).join(', ')}`] : []),
    `  runs            ${details.progress.done}/${details.progress.total} finished`,
    `  task instances  ${counts || dim('none yet')}`,
    `  process         ${record.history.length === 0 ? dim(record.state === 'queued' ? 'none yet: updraft scheduler runs it' : 'none yet') : `pid ${record.pid} on ${record.host}`}`,
    `  created         ${record.created_at}${record.finished_at ? `, finished ${record.finished_at}` : ''}${record.history.length > 1 ? ` (${record.history.length} goes: resumed ${record.history.length - 1} time(s))` : ''}`,
  ].join('\n')
}
