import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {describeStore} from '../core/state/open-store.js'
import {commandContext} from '../cli/context.js'
import {UpdraftError} from '../core/errors.js'
import {startWebServer} from '../web/server.js'

export default class Webserver extends BaseCommand {
  static override description =
    'Pages: / (DAGs and recent backfills) and /backfills/ID (the task × run grid, updating by itself while the backfill runs); the same data as JSON at /api/backfills and /api/backfills/ID. It only reads the state file: it never writes it and never runs tasks. It has no authentication, so it listens on 127.0.0.1 unless told otherwise.'

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --port 9000 --host 0.0.0.0']

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
  }

  static override summary = 'Serve a read-only web page of DAGs and backfills with a live task × run grid.'

  public async run(): Promise<void> {
    const {flags} = await this.parse(Webserver)
    const context = commandContext(flags)
    if (!isLoopback(flags.host)) {
      process.stderr.write(`Warning: listening on ${flags.host}: the page has no authentication, so anyone who can reach this address can read your DAGs, backfills and task logs.\n`)
    }

    const server = await startWebServer(context, {host: flags.host, port: flags.port})
    this.log(`Serving ${server.url} (read-only: ${describeStore(context.dbPath)}); Ctrl-C to stop.`)
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
