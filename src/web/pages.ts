import type {BackfillRow, BackfillView, DagRow, DagView} from './views.js'

/** Who is looking: a signed-in browser gets its CSRF token in every form; everyone else a read-only page. */
export interface Viewer {
  csrf: null | string
  /** The server was started with --read-only: nobody can sign in. */
  readOnly: boolean
}

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;')
}

function layout(title: string, body: string, viewer: Viewer, scripts = ''): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · updraft</title>
<link rel="stylesheet" href="/assets/style.css">
</head>
<body>
<header class="top"><a href="/" class="brand">updraft</a><span class="read-only">${viewer.csrf !== null ? 'signed in: you can launch, pause and cancel backfills' : viewer.readOnly ? 'read-only server' : 'read-only: sign in with the URL updraft webserver printed to act'}</span></header>
<main>
${body}
</main>
${scripts}
</body>
</html>
`
}

function stateBadge(state: string): string {
  return `<span class="badge b-${escapeHtml(state)}">${escapeHtml(state)}</span>`
}

/** `/`: the DAGs of the DAGs folder and the most recent backfills. */
export function indexPage(dags: {dags: DagRow[]; errors: Array<{file: string; message: string}>}, backfills: BackfillRow[], viewer: Viewer): string {
  const dagRows = dags.dags
    .map(
      (dag) => `<tr>
<th scope="row"><a href="/dags/${encodeURIComponent(dag.dag_id)}">${escapeHtml(dag.dag_id)}</a></th>
<td><code>${escapeHtml(dag.schedule)}</code></td>
<td>${escapeHtml(dag.timezone)}</td>
<td>${dag.partitions.length === 0 ? '<span class="muted">none</span>' : escapeHtml(dag.partitions.join(', '))}</td>
<td>${dag.last_run ? `${stateBadge(dag.last_run.state)} ${escapeHtml(dag.last_run.label)}` : '<span class="muted">never run</span>'}</td>
<td>${dag.is_paused ? 'paused' : 'active'}</td>
<td>${dag.next_due === null ? '<span class="muted">none</span>' : escapeHtml(dag.next_due)}</td>
</tr>`,
    )
    .join('\n')
  const errors = dags.errors.map((error) => `<li><code>${escapeHtml(error.file)}</code>: ${escapeHtml(error.message)}</li>`).join('\n')
  const backfillRows = backfills
    .map(
      (row) => `<tr>
<th scope="row"><a href="/backfills/${row.id}">Backfill ${row.id}</a></th>
<td>${escapeHtml(row.dag_id)}</td>
<td>${escapeHtml(row.selection)}</td>
<td>${stateBadge(row.state)}</td>
<td>${row.progress.done}/${row.progress.total} runs</td>
<td>${escapeHtml(row.created_label)}</td>
</tr>`,
    )
    .join('\n')
  return layout(
    'DAGs and backfills',
    `<section id="dags-section">
<h1>DAGs</h1>
${
  dags.dags.length === 0
    ? '<p class="muted">No DAGs in the DAGs folder.</p>'
    : `<table class="list"><thead><tr><th scope="col">DAG</th><th scope="col">Schedule</th><th scope="col">Time zone</th><th scope="col">Partitions</th><th scope="col">Last run</th><th scope="col">Scheduler</th><th scope="col">Next due</th></tr></thead>
<tbody>
${dagRows}
</tbody></table>`
}
${errors === '' ? '' : `<h2>DAG files that failed to load</h2><ul class="errors">${errors}</ul>`}
</section>
<section id="backfills-section">
<h1>Recent backfills</h1>
${
  backfillRows === ''
    ? '<p class="muted">No backfills recorded yet. Start one with <code>updraft dags backfill DAG -s START -e END</code>.</p>'
    : `<table class="list" id="backfills"><thead><tr><th scope="col">Backfill</th><th scope="col">DAG</th><th scope="col">Selection</th><th scope="col">State</th><th scope="col">Progress</th><th scope="col">Created (UTC)</th></tr></thead>
<tbody>
${backfillRows}
</tbody></table>`
}
</section>`,
    viewer,
    '<script src="/assets/index.js" defer></script>',
  )
}

/** JSON inside a script element: `<` is escaped so the text can never close the element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replaceAll('<', '\\u003c')
}

/** `/backfills/ID`: the request, state, progress and the task × run grid, drawn and kept live by backfill.js. */
export function backfillPage(view: BackfillView, viewer: Viewer, schedulers: number): string {
  const {record} = view
  const tags = Object.entries(record.request.tags ?? {}).map(([name, value]) => `${name}: ${value}`)
  const request = `<dt>As a command</dt><dd><code>${escapeHtml(view.command)}</code></dd>${tags.length === 0 ? '' : `<dt>Tags</dt><dd>${escapeHtml(tags.join(', '))}</dd>`}`
  return layout(
    `Backfill ${record.id} of ${record.dag_id}`,
    `<h1>Backfill ${record.id} of ${escapeHtml(record.dag_id)} <span id="state">${stateBadge(view.live.state)}</span></h1>
<dl class="facts">
<dt>Selection</dt><dd>${escapeHtml(view.selection || 'all')}</dd>
<dt>Progress</dt><dd id="progress">${view.live.progress.done}/${view.live.progress.total} runs finished</dd>
<dt>Task instances</dt><dd id="counts"></dd>
<dt>Time zone</dt><dd>${escapeHtml(view.timezone)}</dd>
<dt>Created</dt><dd>${escapeHtml(view.created_label)}</dd>
<dt>Finished</dt><dd id="finished">${view.live.finished_label === null ? '<span class="muted">not yet</span>' : escapeHtml(view.live.finished_label)}</dd>
<dt>Process</dt><dd>pid ${record.pid} on ${escapeHtml(record.host)}</dd>
</dl>
${actionsOf(view, viewer)}
<p class="waiting" id="waiting-note"${view.live.state === 'queued' && schedulers === 0 ? '' : ' hidden'}>This request waits for <code>updraft scheduler</code>: none is running on this store. Start one (<code>updraft scheduler</code>) to run it.</p>
<details class="request"><summary>Request</summary><dl class="facts">${request}</dl></details>
<h2 id="grid-title">Task × run grid <span class="muted" id="grid-size">${view.tasks.length} task(s) × ${view.columns.length} run(s)</span></h2>
<p class="hint">Hover over a box, or tab into the grid and move with the arrow keys, to see its task instance; failed boxes link to their log.</p>
<div id="legend" class="legend" aria-label="Legend"></div>
<div id="grid" class="grid" role="grid" aria-labelledby="grid-title"></div>
<section id="detail" class="detail" aria-live="polite"><p class="muted">No box selected.</p></section>
<p class="live-note" id="live-note" aria-live="polite"></p>
<script type="application/json" id="backfill-data">${scriptJson(view)}</script>`,
    viewer,
    '<script src="/assets/backfill.js" defer></script>',
  )
}

/** A page for what is not there: an unknown backfill id or path. */
export function notFoundPage(message: string, viewer: Viewer): string {
  return layout('Not found', `<h1>Not found</h1>\n<p>${escapeHtml(message)}</p>\n<p><a href="/">All DAGs and backfills</a></p>`, viewer)
}

/** A page for a state file that cannot be read at all (corrupt, too new). */
export function errorPage(code: string, message: string, viewer: Viewer): string {
  return layout('Cannot read the state file', `<h1>Cannot read the state file</h1>\n<p>${escapeHtml(message)}</p>\n<p><code>${escapeHtml(code)}</code></p>`, viewer)
}

/** A change that was refused or failed: what was expected and what was received, its code, and a way back. */
export function refusedPage(code: string, message: string, back: string, viewer: Viewer): string {
  return layout('Not done', `<h1>Not done</h1>\n<p role="alert">${escapeHtml(message)}</p>\n<p><code>${escapeHtml(code)}</code></p>\n<p><a href="${escapeHtml(back)}">Back</a></p>`, viewer)
}

/** A form that posts one change with the viewer's CSRF token. */
function postForm(action: string, csrf: string, inner: string, attributes = ''): string {
  return `<form method="post" action="${escapeHtml(action)}"${attributes}><input type="hidden" name="csrf" value="${escapeHtml(csrf)}">${inner}</form>`
}

/** Pause, Resume and Cancel, each shown while it applies; backfill.js shows and hides them as the state changes. */
function actionsOf(view: BackfillView, viewer: Viewer): string {
  if (viewer.csrf === null) return ''
  const id = view.record.id
  const state = view.live.state
  const button = (action: string, label: string, shown: boolean) =>
    postForm(`/backfills/${id}/${action}`, viewer.csrf as string, `<button type="submit">${label}</button>`, ` class="action" data-action="${action}"${shown ? '' : ' hidden'}`)
  return `<div class="actions" id="actions">${button('pause', 'Pause', state === 'running' || state === 'queued')}${button('resume', 'Resume', state === 'paused')}${button('cancel', 'Cancel', state === 'running' || state === 'queued' || state === 'paused')}</div>`
}

/** `/dags/ID`: the DAG, its status bar (drawn by dag.js) and, for a signed-in browser, the Launch backfill form. */
export function dagPage(view: DagView, viewer: Viewer): string {
  const {dag} = view
  const keyed = dag.partitions.length > 0
  const dated = view.status.labels.length > 0
  const open = view.open_backfills.map((backfill) => `<li><a href="/backfills/${backfill.id}">Backfill ${backfill.id}</a> ${stateBadge(backfill.state)}</li>`).join('')
  const warnings = view.warnings.map((warning) => `<p class="warning" role="note">Warning: ${escapeHtml(warning)}</p>`).join('')
  const field = (name: string, label: string, input: string) => `<label class="field" for="f-${name}"><span>${label}</span>${input}</label>`
  const text = (name: string, label: string, placeholder: string) => field(name, label, `<input id="f-${name}" name="${name}" placeholder="${escapeHtml(placeholder)}" autocomplete="off">`)
  const form =
    viewer.csrf === null
      ? `<p class="muted">${viewer.readOnly ? 'This server is read-only: start <code>updraft webserver</code> without --read-only to launch from here.' : 'Sign in to launch a backfill: open the URL <code>updraft webserver</code> printed.'}</p>`
      : postForm(
          `/dags/${encodeURIComponent(dag.dag_id)}/backfills`,
          viewer.csrf,
          `${dated ? `${text('from', 'From', 'e.g. 2024-01-01')}${text('to', 'To', 'the same as From')}${text('dates', 'Dates', 'or a list: 2024-01-03, 2024-01-09')}` : ''}
${keyed ? text('partitions', 'Partitions', `all: ${dag.partitions.join(', ')}`) : ''}
<label class="check"><input type="checkbox" name="missing_and_failed_only" value="on" checked> Missing and failed only</label>
${field('reprocess', 'Reprocess behaviour', '<select id="f-reprocess" name="reprocess" disabled><option value="none">none: fill what never ran</option><option value="failed">failed: also run again what failed</option><option value="completed">completed: run everything again</option></select>')}
${text('task_regex', 'Task regex', 'all tasks')}
${text('max_active_runs', 'Max active runs', "the DAG's own")}
${field('conf', 'Conf (a JSON object)', '<textarea id="f-conf" name="conf" rows="2" placeholder="{}"></textarea>')}
${warnings}
<p id="preview" class="preview" role="status" aria-live="polite">${dated || keyed ? 'Choose dates to see what would run.' : ''}</p>
<p id="launch-error" class="error" role="alert"></p>
<button type="submit" id="launch" disabled>Launch</button>`,
          ' id="launch-form" class="launch"',
        )
  return layout(
    `DAG ${dag.dag_id}`,
    `<h1>DAG ${escapeHtml(dag.dag_id)}</h1>
<dl class="facts">
<dt>Schedule</dt><dd><code>${escapeHtml(dag.schedule)}</code></dd>
<dt>Time zone</dt><dd>${escapeHtml(dag.timezone)}</dd>
<dt>Partitions</dt><dd>${keyed ? escapeHtml(dag.partitions.join(', ')) : '<span class="muted">none</span>'}</dd>
<dt>Scheduler</dt><dd>${dag.is_paused ? 'paused' : 'active'}</dd>
<dt>Tasks</dt><dd>${escapeHtml(view.tasks.join(', '))}</dd>
${open === '' ? '' : `<dt>Open backfills</dt><dd><ul class="inline">${open}</ul></dd>`}
</dl>
<h2 id="status-title">Status <span class="muted" id="status-size"></span></h2>
<p class="hint">Drag across the bar, or click a box and shift-click another, to put those dates${keyed ? ' and keys' : ''} in the form.</p>
<div id="status-legend" class="legend"></div>
<div id="status" class="status" aria-labelledby="status-title"></div>
<p id="status-pick" class="muted" aria-live="polite"></p>
<section id="launch-section"><h2>Launch backfill</h2>
${form}
</section>
<script type="application/json" id="dag-data">${scriptJson(view)}</script>`,
    viewer,
    '<script src="/assets/dag.js" defer></script>',
  )
}
