/** The only source of "now" in the core; the CLI passes the system clock, tests pass a fixed one. */
export type Clock = () => Date
