/** Exit codes for the signals a backfill stops on: 128 + signal number. */
export const SIGNAL_EXIT_CODES = {SIGINT: 130, SIGTERM: 143} as const

/**
 * Supervisors can deliver one SIGTERM twice (GNU timeout signals its child, then the child's group): a SIGTERM
 * this close to the first is that one request. Each SIGINT is a key press, so a quick second Ctrl-C still forces.
 */
const SAME_TERM_REQUEST_MS = 250

/**
 * Turns the first SIGINT or SIGTERM into an abort (reason = the signal name) so the work can stop cleanly;
 * a second one, sent later, runs `onForce` (which kills what is still running) and exits at once. Returns the
 * controller and a function that removes the handlers.
 */
export function abortOnSignals(onForce: () => void = () => {}): {controller: AbortController; dispose: () => void} {
  const controller = new AbortController()
  let firstAt = 0
  const handler = (signal: keyof typeof SIGNAL_EXIT_CODES) => {
    if (controller.signal.aborted) {
      if (signal === 'SIGTERM' && Date.now() - firstAt < SAME_TERM_REQUEST_MS) return
      onForce()
      process.exit(SIGNAL_EXIT_CODES[signal])
    }

    firstAt = Date.now()
    controller.abort(signal)
  }

  const onInt = () => handler('SIGINT')
  const onTerm = () => handler('SIGTERM')
  process.on('SIGINT', onInt)
  process.on('SIGTERM', onTerm)
  return {
    controller,
    dispose() {
      // Once stopping, the handlers stay until the process exits: the repeat of a group-wide signal can arrive
      // after the work has stopped, and would otherwise kill the process before it reports what it did.
      if (controller.signal.aborted) return
      process.off('SIGINT', onInt)
      process.off('SIGTERM', onTerm)
    },
  }
}
