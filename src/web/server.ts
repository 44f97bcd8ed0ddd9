import {readFileSync} from 'node:fs'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

import {isUpdraftError, UpdraftError} from '../core/errors.js'
import {loadDag} from '../core/loader/load-dags.js'
import {runningSchedulers} from '../core/scheduler/presence.js'
import {askToCancel, askToPause, type LaunchForm, planLaunch, previewOf, queueLaunch, type SessionContext} from '../core/session/requests.js'
import {backfillRuns, recordDocument} from '../core/state/backfills.js'
import {openSharedStore, type RecordedBackfills, type StateReaderContext} from '../core/state/readers.js'
import {StateSnapshots} from '../core/state/state-snapshots.js'
import {sessionCookie, type WebAuth} from './auth.js'
import {backfillPage, dagPage, errorPage, indexPage, notFoundPage, refusedPage, type Viewer} from './pages.js'
import {WebViews} from './views.js'

/** How often an open backfill page's server side looks for a change: boxes turn within a second of a TI's end. */
const LIVE_CHECK_MS = 250
/** A comment line now and then keeps proxies and idle timeouts from closing a quiet event stream. */
const KEEPALIVE_MS = 15_000
const RECENT_BACKFILLS = 50
/** A form is a few fields; anything larger is not one. */
const MAX_BODY_BYTES = 64 * 1024

const ASSETS: Record<string, {file: string; type: string}> = {
  '/assets/backfill.js': {file: 'backfill.js', type: 'text/javascript; charset=utf-8'},
  '/assets/dag.js': {file: 'dag.js', type: 'text/javascript; charset=utf-8'},
  '/assets/index.js': {file: 'index.js', type: 'text/javascript; charset=utf-8'},
  '/assets/style.css': {file: 'style.css', type: 'text/css; charset=utf-8'},
}

/** A running web server: its address, and how to stop it (open event streams included). */
export interface WebServer {
  close(): Promise<void>
  url: string
}

/**
 * The web page (README "The web page") on `node:http`: a handful of routes, a log route and an event stream need no framework.
 * Every GET reads through one `StateSnapshots` and changes nothing. A POST changes something only for a
 * signed-in browser, with its CSRF token, from this server's own origin (`WebAuth`), and only through the
 * actions of `core/session/requests.ts`: queue a request, pause, go on, cancel. Nothing here runs a task.
 */
export async function startWebServer(context: SessionContext & StateReaderContext, options: {auth: WebAuth; host: string; port: number}): Promise<WebServer> {
  const {auth} = options
  const snapshots = new StateSnapshots(context)
  const views = new WebViews(context)
  const streams = new Set<() => void>()
  const server = createServer((request, response) => {
    const viewer = viewerOf(request)
    route(request, response, viewer).catch((error: unknown) => fail(response, error, viewer))
  })

  function viewerOf(request: IncomingMessage): Viewer {
    return {csrf: auth.sessionOf(request)?.csrf ?? null, readOnly: auth.readOnly}
  }

  async function route(request: IncomingMessage, response: ServerResponse, viewer: Viewer): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://updraft.invalid')
    const path = url.pathname.replace(/\/+$/, '') || '/'
    if (request.method === 'POST') {
      await act(request, response, path, viewer)
      return
    }

    if (request.method !== 'GET' && request.method !== 'HEAD') {
      send(response, 405, 'text/plain; charset=utf-8', `Expected GET, HEAD or POST, got ${request.method}.\n`, {allow: 'GET, HEAD, POST'})
      return
    }

    const token = url.searchParams.get('token')
    if (token !== null) {
      signIn(response, url, token, viewer)
      return
    }
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
      send(response, 200, HTML, indexPage(dags, await views.recentBackfills(backfills, RECENT_BACKFILLS), viewer))
      return
    }

    const dagRoute = /^\/(?:api\/)?dags\/([^/]+)(\/preview)?$/.exec(path)
    if (dagRoute) {
      const [, dagId, preview] = dagRoute as unknown as [string, string, string | undefined]
      const id = decodeURIComponent(dagId)
      if (preview) await sendPreview(response, id, url.searchParams)
      else if (path.startsWith('/api/')) sendJson(response, 200, await views.dag(await snapshots.current(), id))
      else send(response, 200, HTML, dagPage(await views.dag(await snapshots.current(), id), viewer))
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
        send(response, 200, HTML, backfillPage(await views.backfill(backfills, id), viewer, await runningSchedulers(await openSharedStore(context))))
      }

      return
    }

    throw new UpdraftError('PAGE_NOT_FOUND', `Expected / , /dags/ID, /backfills/ID or /api/backfills[/ID], got ${path}.`)
  }

  /**
   * Signs the browser in with the token of the URL `updraft webserver` printed, then sends it to the same page
   * without the token, so the secret stays out of its history and of any link it follows.
   */
  function signIn(response: ServerResponse, url: URL, token: string, viewer: Viewer): void {
    const cookie = auth.signIn(token)
    if (cookie === null) {
      const message = auth.readOnly
        ? 'Expected no sign-in token: this server was started with --read-only, got one.'
        : 'Expected the sign-in token updraft webserver printed, got one that is wrong or already used (a printed token signs in one browser; restart the server, or start it with --token, to sign in another).'
      send(response, 401, HTML, refusedPage('NOT_SIGNED_IN', message, '/', viewer))
      return
    }

    url.searchParams.delete('token')
    response.writeHead(303, {'cache-control': 'no-store', location: `${url.pathname}${url.search}`, 'referrer-policy': 'no-referrer', 'set-cookie': sessionCookie(cookie)}).end()
  }

  /** The form's preview: what it would run, or why it would run nothing; it plans and writes nothing. */
  async function sendPreview(response: ServerResponse, dagId: string, params: URLSearchParams): Promise<void> {
    const dag = await loadDag(context.dagsFolder, dagId)
    try {
      const preview = previewOf((await planLaunch(dag, launchFormOf(params), context)).session)
      sendJson(response, 200, {...preview, text: `${plural(preview.runs, 'run')} · ${plural(preview.task_instances, 'task instance')}`})
    } catch (error) {
      if (!isUpdraftError(error)) throw error
      sendJson(response, 400, {error: {code: error.code, message: error.summary}})
    }
  }

  /** Every change: refused unless `WebAuth` allows it, then one action, answered as the asker wants (JSON for the page's script, a redirect for a plain form). */
  async function act(request: IncomingMessage, response: ServerResponse, path: string, viewer: Viewer): Promise<void> {
    const wantsJson = (request.headers.accept ?? '').includes('application/json')
    const answer = (status: number, code: string, message: string, back: string) =>
      wantsJson ? sendJson(response, status, {error: {code, message}}) : send(response, status, HTML, refusedPage(code, message, back, viewer))
    const form = await formOf(request)
    const refusal = auth.refusalOf(request, request.headers['x-csrf-token']?.toString() ?? form.get('csrf'))
    if (refusal) {
      answer(refusal.status, refusal.code, refusal.message, '/')
      return
    }

    const done = (location: string, record: Parameters<typeof recordDocument>[0] | null) => {
      if (wantsJson) sendJson(response, 200, {location, record: record && recordDocument(record)})
      else response.writeHead(303, {'cache-control': 'no-store', location}).end()
    }

    const launch = /^\/dags\/([^/]+)\/backfills$/.exec(path)
    const change = /^\/backfills\/(\d+)\/(pause|resume|cancel)$/.exec(path)
    const back = launch ? `/dags/${launch[1]}` : change ? `/backfills/${change[1]}` : '/'
    try {
      if (launch) {
        const dag = await loadDag(context.dagsFolder, decodeURIComponent(launch[1] as string))
        const record = await queueLaunch(await planLaunch(dag, launchFormOf(form), context))
        done(`/backfills/${record.id}`, record)
      } else if (change) {
        const [, id, action] = change as unknown as [string, string, 'cancel' | 'pause' | 'resume']
        const store = await openSharedStore(context)
        const record = await (await snapshots.current()).find(id)
        const by = `the web page (pid ${context.process.pid} on ${context.process.host})`
        const changed = action === 'cancel' ? await askToCancel(store, record, by, context.clock()) : await askToPause(store, record, action === 'pause')
        done(`/backfills/${id}`, changed)
      } else {
        throw new UpdraftError('PAGE_NOT_FOUND', `Expected a POST to /dags/ID/backfills or /backfills/ID/pause, /resume or /cancel, got ${path}.`)
      }
    } catch (error) {
      if (!isUpdraftError(error)) throw error
      answer(error.code.endsWith('_NOT_FOUND') ? 404 : error.exit === 2 ? 400 : 409, error.code, error.summary, back)
    }
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
    // Not no-referrer: with it a browser sends `Origin: null` on the page's own form posts, which the origin check refuses.
    'referrer-policy': 'same-origin',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    ...headers,
  })
  response.end(response.req.method === 'HEAD' ? undefined : body)
}

function sendJson(response: ServerResponse, status: number, value: unknown): void {
  send(response, status, 'application/json; charset=utf-8', `${JSON.stringify(value, null, 2)}\n`)
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`
}

function launchFormOf(fields: URLSearchParams): LaunchForm {
  const text = (name: string) => fields.get(name) ?? ''
  const checked = fields.get('missing_and_failed_only')
  return {
    conf: text('conf'),
    dates: text('dates'),
    from: text('from'),
    max_active_runs: text('max_active_runs'),
    missing_and_failed_only: checked !== null && checked !== '' && checked !== 'false',
    partitions: text('partitions'),
    reprocess: text('reprocess'),
    task_regex: text('task_regex'),
    to: text('to'),
  }
}

/** A POST's fields: a URL-encoded form, or a JSON object of strings. */
async function formOf(request: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of request) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY_BYTES) throw new UpdraftError('USAGE', `Expected a form of at most ${MAX_BODY_BYTES} bytes, got more.`, {exit: 2})
    chunks.push(chunk as Buffer)
  }

  const body = Buffer.concat(chunks).toString('utf8')
  if (!(request.headers['content-type'] ?? '').includes('application/json')) return new URLSearchParams(body)
  let value: unknown
  try {
    value = body === '' ? {} : JSON.parse(body)
  } catch {
    throw new UpdraftError('USAGE', `Expected a JSON object of form fields, got ${JSON.stringify(body.slice(0, 80))}.`, {exit: 2})
  }

  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UpdraftError('USAGE', `Expected a JSON object of form fields, got ${JSON.stringify(value)}.`, {exit: 2})
  return new URLSearchParams(Object.entries(value).map(([name, field]) => [name, typeof field === 'string' ? field : JSON.stringify(field)]))
}

/** Not-found errors are 404s (a page, or JSON under /api); an unreadable state file is a 503; bad input a 400; the rest 500. */
function fail(response: ServerResponse, error: unknown, viewer: Viewer): void {
  if (response.headersSent) {
    response.end()
    return
  }

  const code = isUpdraftError(error) ? error.code : 'INTERNAL'
  const message = isUpdraftError(error) ? error.summary : String(error)
  const status = code.endsWith('_NOT_FOUND') ? 404 : code.startsWith('STATE_') ? 503 : isUpdraftError(error) && error.exit === 2 ? 400 : 500
  if (response.req.url?.startsWith('/api/')) {
    sendJson(response, status, {error: {code, message}})
  } else {
    send(response, status, HTML, status === 404 ? notFoundPage(message, viewer) : errorPage(code, message, viewer))
  }
}
