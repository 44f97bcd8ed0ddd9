/** The only source of "now" in the core; the CLI passes the system clock, tests pass a fixed one. */
export type Clock = () => Date

/** Waiting in the core goes through these, so that tests can drive time as they drive the clock. */
export interface Timers {
  clearTimeout(handle: TimerHandle): void
  setTimeout(callback: () => void, ms: number): TimerHandle
}

/** Whatever a `Timers` returns to cancel one; opaque to the core. */
export type TimerHandle = {readonly timer: unknown}
