/** Exit codes for the signals a backfill stops on: 128 + signal number. */
export const SIGNAL_EXIT_CODES = {SIGINT: 130, SIGTERM: 143} as const

/**
 * Turns the first SIGINT or SIGTERM into an abort (reason = the signal name) so the backfill can stop cleanly;
 * a second one runs `onForce` (which kills what is still running) and exits at once. Returns the controller
 * and a function that removes the handlers.
 */
export function abortOnSignals(onForce: () => void = () => {}): {controller: AbortController; dispose: () => void} {
  const controller = new AbortController()
  const handler = (signal: keyof typeof SIGNAL_EXIT_CODES) => {
    if (controller.signal.aborted) {
      onForce()
      process.exit(SIGNAL_EXIT_CODES[signal])
    }

    controller.abort(signal)
  }

  const onInt = () => handler('SIGINT')
  const onTerm = () => handler('SIGTERM')
  process.on('SIGINT', onInt)
  process.on('SIGTERM', onTerm)
  return {
    controller,
    dispose() {
      process.off('SIGINT', onInt)
      process.off('SIGTERM', onTerm)
    },
  }
}
