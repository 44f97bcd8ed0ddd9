import {readFileSync} from 'node:fs'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

import {isUpdraftError, UpdraftError} from '../core/errors.js'
import {backfillRuns, recordDocument} from '../core/state/backfills.js'
import type {RecordedBackfills, StateReaderContext} from '../core/state/readers.js'
import {backfillPage, errorPage, indexPage, notFoundPage} from './pages.js'
import {StateSnapshots} from '../core/state/state-snapshots.js'
import {WebViews} from './views.js'

/** How often an open backfill page's server side looks for a change: boxes turn within a second of a TI's end. */
const LIVE_CHECK_MS = 250
/** A comment line now and then keeps proxies and idle timeouts from closing a quiet event stream. */
const KEEPALIVE_MS = 15_000
const RECENT_BACKFILLS = 50

const ASSETS: Record<string, {file: string; type: string}> = {
  '/assets/backfill.js': {file: 'backfill.js', type: 'text/javascript; charset=utf-8'},
  '/assets/index.js': {file: 'index.js', type: 'text/javascript; charset=utf-8'},
  '/assets/style.css': {file: 'style.css', type: 'text/css; charset=utf-8'},
}

/** A running web server: its address, and how to stop it (open event streams included). */
export interface WebServer {
  close(): Promise<void>
  url: string
}

/**
 * The read-only web page (README "Watching a backfill") on `node:http`: four routes, a log route and an event stream need no framework.
 * Every request reads through one `StateSnapshots`, which never opens the state file for writing.
 */
export async function startWebServer(context: StateReaderContext, options: {host: string; port: number}): Promise<WebServer> {
  const snapshots = new StateSnapshots(context)
  const views = new WebViews(context)
  const streams = new Set<() => void>()
  const server = createServer((request, response) => {
    route(request, response).catch((error: unknown) => fail(response, error))
  })

  async function route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      send(response, 405, 'text/plain; charset=utf-8', `Expected GET or HEAD: this server is read-only, got ${request.method}.\n`, {allow: 'GET, HEAD'})
      return
    }

    const url = new URL(request.url ?? '/', 'http://updraft.invalid')
    const path = url.pathname.replace(/\/+$/, '') || '/'
    const asset = ASSETS[path]
    if (asset) {
      send(response, 200, asset.type, readFileSync(new URL(`assets/${asset.file}`, import.meta.url)))
      return
    }

    if (path === '/favicon.ico') {
      response.writeHead(204).end()
      return
    }

    if (path === '/') {
      const backfills = await snapshots.current()
      const dags = await views.dags(backfills)
      send(response, 200, HTML, indexPage(dags, await views.recentBackfills(backfills, RECENT_BACKFILLS, dags.dags)))
      return
    }

    if (path === '/api/backfills') {
      const backfills = await snapshots.current()
      sendJson(response, 200, await Promise.all(backfills.records.map(async (record) => recordDocument(await backfills.whole(record)))))
      return
    }

    const api = /^\/api\/backfills\/([^/]+)(\/live|\/task-instance)?$/.exec(path)
    if (api) {
      const [, id, part] = api as unknown as [string, string, string | undefined]
      const backfills = await snapshots.current()
      if (part === undefined) {
        const record = await backfills.find(id)
        sendJson(response, 200, {...recordDocument(record), runs: backfillRuns(record, await backfills.stateOf(record.dag_id))})
      } else if (part === '/live') {
        await streamLive(request, response, id, backfills)
      } else {
        sendJson(response, 200, await views.taskInstance(backfills, id, url.searchParams.get('run') ?? '', url.searchParams.get('task') ?? ''))
      }

      return
    }

    const page = /^\/backfills\/([^/]+)(\/logs)?$/.exec(path)
    if (page) {
      const [, id, logs] = page as unknown as [string, string, string | undefined]
      const backfills = await snapshots.current()
      if (logs) {
        const tryText = url.searchParams.get('try')
        const log = await views.log(backfills, id, url.searchParams.get('run') ?? '', url.searchParams.get('task') ?? '', tryText === null ? null : Number(tryText))
        send(response, 200, 'text/plain; charset=utf-8', log)
      } else {
        send(response, 200, HTML, backfillPage(await views.backfill(backfills, id)))
      }

      return
    }

    throw new UpdraftError('PAGE_NOT_FOUND', `Expected / , /backfills/ID or /api/backfills[/ID], got ${path}.`)
  }

  /** Server-sent events: the page's live part each time it differs from what this page last got. */
  async function streamLive(request: IncomingMessage, response: ServerResponse, id: string, first: RecordedBackfills): Promise<void> {
    const view = await views.backfill(first, id)
    response.writeHead(200, {'cache-control': 'no-store', 'content-type': 'text/event-stream; charset=utf-8', 'x-accel-buffering': 'no'})
    let lastSnapshot: null | RecordedBackfills = null
    let lastSent = ''
    let checking = false
    const check = async () => {
      if (checking) return
      checking = true
      try {
        const backfills = await snapshots.current()
        if (backfills === lastSnapshot) return
        lastSnapshot = backfills
        const record = backfills.records.find((candidate) => candidate.id === view.record.id)
        if (!record) return
        const text = JSON.stringify(await views.live(backfills, await backfills.whole(record), view.tasks, view.timezone))
        if (text === lastSent) return
        lastSent = text
        response.write(`event: live\ndata: ${text}\n\n`)
      } catch {
        // An unreadable moment of the state file: the page keeps what it shows until the next good reading.
      } finally {
        checking = false
      }
    }

    const timer = setInterval(() => void check(), LIVE_CHECK_MS)
    const keepalive = setInterval(() => response.write(': keepalive\n\n'), KEEPALIVE_MS)
    const stop = () => {
      clearInterval(timer)
      clearInterval(keepalive)
      streams.delete(stop)
      response.end()
    }

    streams.add(stop)
    request.on('close', stop)
    await check()
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new UpdraftError('PORT_IN_USE', `Expected port ${options.port} on ${options.host} to be free, got it in use by another process; pick another with --port.`)
          : new UpdraftError('WEBSERVER_FAILED', `Expected to listen on ${options.host}:${options.port}, got ${error.message}.`),
      )
    })
    server.listen(options.port, options.host, resolve)
  })
  const address = server.address() as AddressInfo
  return {
    close: async () => {
      await closeServer(server, streams)
      await snapshots.close()
    },
    url: `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`,
  }
}

const HTML = 'text/html; charset=utf-8'

function closeServer(server: Server, streams: Set<() => void>): Promise<void> {
  for (const stop of [...streams]) stop()
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

function send(response: ServerResponse, status: number, type: string, body: Buffer | string, headers: Record<string, string> = {}): void {
  response.writeHead(status, {
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'self'",
    'content-type': type,
    'x-content-type-options': 'nosniff',
    ...headers,
  })
  response.end(response.req.method === 'HEAD' ? undefined : body)
}

function sendJson(response: ServerResponse, status: number, value: unknown): void {
  send(response, status, 'application/json; charset=utf-8', `${JSON.stringify(value, null, 2)}\n`)
}

/** Not-found errors are 404s (a page, or JSON under /api); an unreadable state file is a 503; the rest 500. */
function fail(response: ServerResponse, error: unknown): void {
  if (response.headersSent) {
    response.end()
    return
  }

  const code = isUpdraftError(error) ? error.code : 'INTERNAL'
  const message = isUpdraftError(error) ? error.summary : String(error)
  const status = code.endsWith('_NOT_FOUND') ? 404 : code.startsWith('STATE_') ? 503 : 500
  if (response.req.url?.startsWith('/api/')) {
    sendJson(response, status, {error: {code, message}})
  } else {
    send(response, status, HTML, status === 404 ? notFoundPage(message) : errorPage(code, message))
  }
}
