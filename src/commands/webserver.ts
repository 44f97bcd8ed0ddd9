import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {describeStore} from '../core/state/open-store.js'
import {commandContext} from '../cli/context.js'
import {UpdraftError} from '../core/errors.js'
import {WebAuth} from '../web/auth.js'
import {startWebServer} from '../web/server.js'

/** A fixed token is a password for acting on backfills; short ones are guessed. */
const MIN_TOKEN_LENGTH = 16

export default class Webserver extends BaseCommand {
  static override description =
    'Pages: / (DAGs and recent backfills), /dags/ID (a status bar of every due date and the Launch backfill form) and /backfills/ID (the task × run grid, updating by itself while the backfill runs, with Pause, Resume and Cancel); the same data as JSON at /api/backfills and /api/backfills/ID. It prints, once, a URL with a one-time token that signs one browser in; only a signed-in browser can launch, pause or cancel, and it never runs tasks itself (updraft scheduler runs what it launches). Listening beyond 127.0.0.1 needs --token or --read-only.'

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --read-only --port 9000 --host 0.0.0.0',
    '<%= config.bin %> <%= command.id %> --host 0.0.0.0 --token "$(cat ~/.updraft-token)"',
  ]

  static override flags = {
    host: Flags.string({default: '127.0.0.1', env: 'UPDRAFT_WEBSERVER_HOST', summary: 'Address to listen on.'}),
    port: Flags.custom<number>({
      helpValue: 'PORT',
      async parse(input) {
        const value = Number(input)
        if (!/^\d+$/.test(input.trim()) || value > 65_535) throw new UpdraftError('USAGE', `Expected --port to be a port number from 0 to 65535 (0: any free port), got "${input}".`, {exit: 2})
        return value
      },
    })({default: 8080, env: 'UPDRAFT_WEBSERVER_PORT', summary: 'Port to listen on (0 picks a free one).'}),
    'read-only': Flags.boolean({exclusive: ['token'], summary: 'Serve the pages only: nobody can sign in, launch, pause or cancel.'}),
    token: Flags.string({env: 'UPDRAFT_WEBSERVER_TOKEN', helpValue: 'SECRET', summary: 'A fixed sign-in token (at least 16 characters), good for any number of browsers: sign in at /?token=SECRET.'}),
  }

  static override summary = 'Serve a web page of DAGs and backfills: live grids, a status bar per DAG, and launching, pausing and cancelling for a signed-in browser.'

  public async run(): Promise<void> {
    const {flags} = await this.parse(Webserver)
    const context = commandContext(flags)
    const token = flags.token ?? null
    if (token !== null && token.length < MIN_TOKEN_LENGTH) {
      throw new UpdraftError('USAGE', `Expected --token (or UPDRAFT_WEBSERVER_TOKEN) of at least ${MIN_TOKEN_LENGTH} characters, got ${token.length}.`, {exit: 2})
    }

    if (!isLoopback(flags.host) && token === null && !flags['read-only']) {
      throw new UpdraftError('USAGE', `Expected --token or --read-only to listen on ${flags.host}, beyond this machine, got neither: anyone who reaches it could launch and cancel backfills.`, {exit: 2})
    }

    if (!isLoopback(flags.host) && flags['read-only']) {
      process.stderr.write(`Warning: listening on ${flags.host} read-only: anyone who can reach this address can read your DAGs, backfills and task logs.\n`)
    }

    const auth = new WebAuth({fixedToken: token, readOnly: flags['read-only']})
    const server = await startWebServer(context, {auth, host: flags.host, port: flags.port})
    this.log(`Serving ${server.url} (${flags['read-only'] ? 'read-only, ' : ''}state ${describeStore(context.dbPath)}); Ctrl-C to stop.`)
    if (auth.printableToken !== null) this.log(`Sign in (one browser, once) to launch, pause and cancel: ${server.url}/?token=${auth.printableToken}`)
    else if (token !== null) this.log(`Sign in to launch, pause and cancel: ${server.url}/?token=<your --token>`)
    await new Promise<void>((resolve) => {
      const stop = () => resolve()
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    })
    await server.close()
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}
