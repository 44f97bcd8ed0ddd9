import type {BackfillRow, BackfillView, DagRow} from './views.js'

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;')
}

function layout(title: string, body: string, scripts = ''): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · updraft</title>
<link rel="stylesheet" href="/assets/style.css">
</head>
<body>
<header class="top"><a href="/" class="brand">updraft</a><span class="read-only">read-only view of the state file</span></header>
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
export function indexPage(dags: {dags: DagRow[]; errors: Array<{file: string; message: string}>}, backfills: BackfillRow[]): string {
  const dagRows = dags.dags
    .map(
      (dag) => `<tr>
<th scope="row">${escapeHtml(dag.dag_id)}</th>
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
    : `<table class="list" id="backfills"><thead><tr><th scope="col">Backfill</th><th scope="col">DAG</th><th scope="col">Selection</th><th scope="col">State</th><th scope="col">Progress</th><th scope="col">Created</th></tr></thead>
<tbody>
${backfillRows}
</tbody></table>`
}
</section>`,
    '<script src="/assets/index.js" defer></script>',
  )
}

/** JSON inside a script element: `<` is escaped so the text can never close the element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replaceAll('<', '\\u003c')
}

/** `/backfills/ID`: the request, state, progress and the task × run grid, drawn and kept live by backfill.js. */
export function backfillPage(view: BackfillView): string {
  const {record} = view
  const request = Object.entries(record.request)
    .filter(([, value]) => value !== null && value !== false && !(Array.isArray(value) && value.length === 0))
    .map(([name, value]) => `<dt>${escapeHtml(name)}</dt><dd><code>${escapeHtml(typeof value === 'string' ? value : JSON.stringify(value))}</code></dd>`)
    .join('')
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
<details class="request"><summary>Request</summary><dl class="facts">${request}</dl></details>
<h2 id="grid-title">Task × run grid <span class="muted" id="grid-size">${view.tasks.length} task(s) × ${view.columns.length} run(s)</span></h2>
<p class="hint">Hover over a box, or tab into the grid and move with the arrow keys, to see its task instance; failed boxes link to their log.</p>
<div id="legend" class="legend" aria-label="Legend"></div>
<div id="grid" class="grid" role="grid" aria-labelledby="grid-title"></div>
<section id="detail" class="detail" aria-live="polite"><p class="muted">No box selected.</p></section>
<p class="live-note" id="live-note" aria-live="polite"></p>
<script type="application/json" id="backfill-data">${scriptJson(view)}</script>`,
    '<script src="/assets/backfill.js" defer></script>',
  )
}

/** A page for what is not there: an unknown backfill id or path. */
export function notFoundPage(message: string): string {
  return layout('Not found', `<h1>Not found</h1>\n<p>${escapeHtml(message)}</p>\n<p><a href="/">All DAGs and backfills</a></p>`)
}

/** A page for a state file that cannot be read at all (corrupt, too new). */
export function errorPage(code: string, message: string): string {
  return layout('Cannot read the state file', `<h1>Cannot read the state file</h1>\n<p>${escapeHtml(message)}</p>\n<p><code>${escapeHtml(code)}</code></p>`)
}
