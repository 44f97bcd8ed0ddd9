import {Command, Errors} from '@oclif/core'

import {isUpdraftError} from '../core/errors.js'
import {closeMatch} from '../core/suggest.js'
import {dagsFolderFlag, dbFlag} from './flags.js'

/**
 * Maps domain errors to oclif's `Error / Code / Try this` output with the right exit code, and folds oclif's own
 * multi-line usage errors into one line with the USAGE code.
 */
export abstract class BaseCommand extends Command {
  /** Every command takes both, so a script can pass the same two to all of them. */
  static override baseFlags = {
    'dags-folder': dagsFolderFlag(),
    db: dbFlag(),
  }

  /** Plain JSON: oclif's default colourises it token by token, which is slow for a year of runs. */
  public override logJson(json: unknown): void {
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
  }

  /** Load-time warnings of DAGs, on stderr so `--json` output stays one document. */
  protected warnAbout(dags: ReadonlyArray<{warnings: string[]}>): void {
    for (const warning of dags.flatMap((dag) => dag.warnings)) process.stderr.write(`Warning: ${warning}\n`)
  }

  protected override async catch(error: Error & {oclif?: {exit?: number}}): Promise<unknown> {
    if (isUpdraftError(error)) {
      return this.fail(error.summary, {code: error.code, exit: error.exit, suggestions: error.suggestions})
    }

    if (error instanceof Errors.CLIError && isUsageError(error)) {
      const oneLine = error.message
        // oclif adds a note about multiple-value flags to any missing argument; it is not what went wrong.
        .replace(/\s*Note: --[\s\S]*$/, '')
        .replaceAll('See more help with --help', '')
        .replaceAll('The following error occurred:', '')
        .replaceAll('=[object Object]', '')
        .split('\n')
        .map((line) => line.trim())
        .filter(Boolean)
        .join(' ')
      const help = `updraft ${this.id?.replaceAll(':', ' ') ?? ''} --help`
      const unknownFlag = /Nonexistent flags?: (--?[\w-]+)/.exec(oneLine)?.[1]
      const known = Object.keys({...this.ctor.flags, ...this.ctor.baseFlags}).map((name) => `--${name}`)
      // A flag typed short of its full name (--end for --end-date) is a prefix; otherwise the closest spelling.
      const guess = unknownFlag && (known.filter((name) => name.startsWith(unknownFlag)).sort((a, b) => a.length - b.length)[0] ?? closeMatch(unknownFlag, known))
      const hint = guess ? [`Did you mean ${guess}?`] : []
      return this.fail(oneLine, {code: 'USAGE', exit: 2, suggestions: [...hint, help]})
    }

    return super.catch(error)
  }

  private fail(message: string, options: {code: string; exit: number; suggestions: string[]}): never {
    if (this.jsonEnabled()) this.logJson({error: {code: options.code, exit: options.exit, message, suggestions: options.suggestions}})
    printError(message, options.code, options.suggestions)
    this.exit(options.exit)
  }
}

/** `Error: … / Code: … / Try this: …` on stderr, by hand: this.error() wraps long lines, which breaks grep. */
export function printError(message: string, code: string, suggestions: string[]): void {
  const lines = [`Error: ${message}`, `Code: ${code}`, ...suggestions.map((hint) => `Try this: ${hint}`)]
  process.stderr.write(`${lines.join('\n')}\n`)
}

function isUsageError(error: Errors.CLIError): boolean {
  return 'parse' in error || /See more help with --help/.test(error.message) || (error.oclif?.exit ?? 0) === 2
}
