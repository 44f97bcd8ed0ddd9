import {allSucceeded, type BackfillSummary, summaryDocument} from '../core/executor/backfill-summary.js'
import {type BackfillSession, type RunSettings, StateWriteStoppedBackfill} from '../core/session/backfill-session.js'
import {createBackfillView, pickViewMode} from '../render/backfill-view.js'
import {summaryText} from '../render/summary.js'
import {abortOnSignals, SIGNAL_EXIT_CODES} from './signals.js'

/**
 * Runs a session in the foreground of a command (`dags backfill`, `backfills resume`): the live view or plain
 * lines, Ctrl-C and SIGTERM, the summary, and the exit code. Returns the `--json` document.
 */
export async function runInForeground(session: BackfillSession, settings: RunSettings, output: {json: boolean; log: (text: string) => void}) {
  const view = createBackfillView(pickViewMode({isTTY: Boolean(process.stdout.isTTY), json: output.json}), process.stdout, settings.maxActiveRuns)
  const signals = abortOnSignals(() => {
    session.forceStop()
    view.abandon()
  })
  let summary
  let stopped: null | StateWriteStoppedBackfill = null
  try {
    summary = await session.run(settings, {listener: (event) => view.handle(event), notice: (text) => process.stderr.write(`${text}\n`), signal: signals.controller.signal})
  } catch (error) {
    if (!(error instanceof StateWriteStoppedBackfill)) throw error
    stopped = error
  } finally {
    await view.finish()
    signals.dispose()
  }

  // Stopped because its state could not be written: what was recorded is still worth seeing, then the error
  // (with --json, the error is the one document).
  if (stopped) {
    if (!output.json) output.log(summaryText(stopped.outcome))
    throw stopped
  }

  summary = summary as BackfillSummary
  if (!output.json) output.log(summaryText(summary))
  process.exitCode = exitCodeOf(summary, signals.controller.signal.reason)
  return summaryDocument(summary)
}

function exitCodeOf(summary: BackfillSummary, abortReason: unknown): number {
  // A cancel is a stop the user asked for from elsewhere, not a signal to this process: it exits as a failure.
  if (summary.cancelled_by !== null) return 1
  if (summary.interrupted) return SIGNAL_EXIT_CODES[abortReason as keyof typeof SIGNAL_EXIT_CODES] ?? 130
  return allSucceeded(summary) ? 0 : 1
}
