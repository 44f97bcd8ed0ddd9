import {Command, Errors} from '@oclif/core'

import {isUpdraftError} from '../core/errors.js'
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

  protected override async catch(error: Error & {oclif?: {exit?: number}}): Promise<unknown> {
    if (isUpdraftError(error)) {
      return this.fail(error.summary, {code: error.code, exit: error.exit, suggestions: error.suggestions})
    }

    if (error instanceof Errors.CLIError && isUsageError(error)) {
      const oneLine = error.message
        .replaceAll('See more help with --help', '')
        .replaceAll('The following error occurred:', '')
        .replaceAll('=[object Object]', '')
        .split('\n')
        .map((line) => line.trim())
        .filter(Boolean)
        .join(' ')
      return this.fail(oneLine, {code: 'USAGE', exit: 2, suggestions: [`updraft ${this.id?.replaceAll(':', ' ') ?? ''} --help`]})
    }

    return super.catch(error)
  }

  private fail(message: string, options: {code: string; exit: number; suggestions: string[]}): never {
    if (this.jsonEnabled()) this.logJson({error: {code: options.code, exit: options.exit, message, suggestions: options.suggestions}})
    // Written by hand rather than with this.error(), which wraps long lines and breaks grep-ability of the message.
    const lines = [`Error: ${message}`, `Code: ${options.code}`, ...options.suggestions.map((hint) => `Try this: ${hint}`)]
    process.stderr.write(`${lines.join('\n')}\n`)
    this.exit(options.exit)
  }
}

function isUsageError(error: Errors.CLIError): boolean {
  return 'parse' in error || /See more help with --help/.test(error.message) || (error.oclif?.exit ?? 0) === 2
}
