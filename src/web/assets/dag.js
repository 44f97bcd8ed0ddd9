// The DAG page: a status bar of every due date (× key), drawn from the data the server put in the page and kept
// current by asking again every few seconds; a selection made on it fills the Launch backfill form, whose
// preview asks the server's dry-run planner what the form would run.
const STATES = {
  S: {name: 'success', symbol: '✓'},
  F: {name: 'failed', symbol: '✗'},
  R: {name: 'running', symbol: '▶'},
  Q: {name: 'queued', symbol: '…'},
  '.': {name: 'missing', symbol: ''},
}
const REFRESH_MS = 3000
const PREVIEW_DELAY_MS = 250
const CELL_PX = 10

const view = JSON.parse(document.getElementById('dag-data').textContent)
const {keys} = view.status
let {labels, states} = view.status
const rowsPerColumn = Math.max(1, keys.length)
const columnCount = () => Math.max(1, labels.length)
const bar = document.getElementById('status')
const pick = document.getElementById('status-pick')
const form = document.getElementById('launch-form')
const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'})[c])
const columnLabel = (column) => labels[column] ?? 'all dates'
// A label as -s takes it: `2024-03-05 06:30 +01:00` is `2024-03-05T06:30+01:00`.
const asArgument = (label) => {
  const [date, time, offset] = label.split(' ')
  return time === undefined ? date : `${date}T${time}${offset ?? ''}`
}

document.getElementById('status-legend').innerHTML = Object.entries(STATES)
  .map(([letter, state]) => `<span><span class="sc s-${letter === '.' ? 'n' : letter}">${state.symbol}</span>${state.name}</span>`)
  .join('')
document.getElementById('status-size').textContent = `${labels.length > 0 ? `${labels.length} date(s)` : 'every key'}${keys.length > 0 ? ` × ${keys.length} key(s)` : ''}`

// Cells in the order of `states` (date-major, then key), whatever order the blocks put them on the page.
let cells = []
const nameWidthPx = keys.length === 0 ? 0 : Math.min(24, Math.max(...keys.map((key) => key.length)) + 1) * 7

// Set through the CSSOM: the page's content security policy allows no inline style attribute.
bar.style.setProperty('--key-width', `${nameWidthPx}px`)

function draw() {
  const perBlock = Math.max(8, Math.floor((bar.clientWidth - nameWidthPx) / CELL_PX))
  const parts = []
  for (let start = 0; start < columnCount(); start += perBlock) {
    const end = Math.min(start + perBlock, columnCount())
    parts.push(`<div class="sblock"><div class="shead">${escapeHtml(columnLabel(start))}${end - 1 > start ? ` → ${escapeHtml(columnLabel(end - 1))}` : ''}</div>`)
    for (let key = 0; key < rowsPerColumn; key++) {
      parts.push(`<div class="srow">${keys.length === 0 ? '' : `<span class="skey">${escapeHtml(keys[key])}</span>`}`)
      for (let column = start; column < end; column++) {
        const letter = states[column * rowsPerColumn + key] ?? '.'
        parts.push(`<span class="sc s-${letter === '.' ? 'n' : letter}" data-c="${column}" data-k="${key}"></span>`)
      }

      parts.push('</div>')
    }

    parts.push('</div>')
  }

  bar.innerHTML = parts.join('')
  cells = new Array(states.length)
  for (const cell of bar.querySelectorAll('.sc')) cells[Number(cell.dataset.c) * rowsPerColumn + Number(cell.dataset.k)] = cell
  showSelection()
}

// The selection is a rectangle: dates from..to, keys from..to; an anchor and the cell it was extended to.
let anchor = null
let reach = null
let dragging = false

function selected() {
  if (!anchor || !reach) return null
  return {
    columns: [Math.min(anchor.c, reach.c), Math.max(anchor.c, reach.c)],
    keys: [Math.min(anchor.k, reach.k), Math.max(anchor.k, reach.k)],
  }
}

function showSelection() {
  for (const cell of bar.querySelectorAll('.sel')) cell.classList.remove('sel')
  const range = selected()
  if (!range) return
  const counts = {}
  for (let column = range.columns[0]; column <= range.columns[1]; column++) {
    for (let key = range.keys[0]; key <= range.keys[1]; key++) {
      const index = column * rowsPerColumn + key
      cells[index]?.classList.add('sel')
      const name = STATES[states[index]]?.name ?? 'missing'
      counts[name] = (counts[name] ?? 0) + 1
    }
  }

  const dates = labels.length === 0 ? '' : `${columnLabel(range.columns[0])} → ${columnLabel(range.columns[1])} (${range.columns[1] - range.columns[0] + 1} date(s))`
  const keyText = keys.length === 0 ? '' : `${dates === '' ? '' : ' · '}${keys.slice(range.keys[0], range.keys[1] + 1).join(', ')}`
  pick.textContent = `Selected ${dates}${keyText}: ${Object.entries(counts).map(([name, count]) => `${count} ${name}`).join(', ')}`
}

function cellOf(target) {
  const cell = target.closest?.('.sc[data-c]')
  return cell ? {c: Number(cell.dataset.c), k: Number(cell.dataset.k)} : null
}

function putSelectionInForm() {
  const range = selected()
  if (!range || !form) return
  if (labels.length > 0) {
    form.elements.from.value = asArgument(labels[range.columns[0]])
    form.elements.to.value = asArgument(labels[range.columns[1]])
  }

  if (keys.length > 0) {
    const all = range.keys[0] === 0 && range.keys[1] === keys.length - 1
    form.elements.partitions.value = all ? '' : keys.slice(range.keys[0], range.keys[1] + 1).join(',')
  }

  schedulePreview()
}

bar.addEventListener('pointerdown', (event) => {
  const cell = cellOf(event.target)
  if (!cell) return
  event.preventDefault()
  if (!event.shiftKey || !anchor) anchor = cell
  reach = cell
  dragging = true
  showSelection()
})
bar.addEventListener('pointerover', (event) => {
  const cell = cellOf(event.target)
  if (!cell) return
  event.target.title = `${columnLabel(cell.c)}${keys.length > 0 ? ` · ${keys[cell.k]}` : ''}: ${STATES[states[cell.c * rowsPerColumn + cell.k]]?.name ?? 'missing'}`
  if (!dragging) return
  reach = cell
  showSelection()
})
window.addEventListener('pointerup', () => {
  if (!dragging) return
  dragging = false
  putSelectionInForm()
})

// What the form would run, from the server's dry-run planner; Launch is enabled only while that is something.
const preview = document.getElementById('preview')
const launch = document.getElementById('launch')
const launchError = document.getElementById('launch-error')
let previewTimer = null
let previewAsked = 0

function fieldsOf() {
  const fields = new URLSearchParams(new FormData(form))
  fields.delete('csrf')
  return fields
}

function schedulePreview() {
  clearTimeout(previewTimer)
  previewTimer = setTimeout(() => void askPreview(), PREVIEW_DELAY_MS)
}

async function askPreview() {
  const asked = ++previewAsked
  launch.disabled = true
  launchError.textContent = ''
  const response = await fetch(`/api/dags/${encodeURIComponent(view.dag.dag_id)}/preview?${fieldsOf()}`, {cache: 'no-store'})
  const answer = await response.json()
  if (asked !== previewAsked) return
  if (answer.error) {
    preview.textContent = `Nothing to launch: ${answer.error.message}`
    return
  }

  preview.textContent = answer.text
  launch.disabled = answer.task_instances === 0
}

if (form) {
  const reprocess = form.elements.reprocess
  const onlyMissingAndFailed = form.elements.missing_and_failed_only
  const followCheckbox = () => {
    reprocess.disabled = onlyMissingAndFailed.checked
  }

  followCheckbox()
  onlyMissingAndFailed.addEventListener('change', followCheckbox)
  form.addEventListener('input', schedulePreview)
  form.addEventListener('change', schedulePreview)
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    launch.disabled = true
    const body = new URLSearchParams(new FormData(form))
    const response = await fetch(form.action, {body, headers: {accept: 'application/json'}, method: 'POST'})
    const answer = await response.json()
    if (response.ok) {
      window.location.assign(answer.location)
      return
    }

    launchError.textContent = `${answer.error.message} (${answer.error.code})`
    launch.disabled = false
  })
  if (labels.length === 0) schedulePreview()
}

// Boxes turn as runs are recorded: the page asks again while it is visible and repaints the cells that changed.
async function refresh() {
  if (document.hidden) return
  const response = await fetch(`/api/dags/${encodeURIComponent(view.dag.dag_id)}`, {cache: 'no-store'})
  if (!response.ok) return
  const fresh = (await response.json()).status
  if (fresh.states.length !== states.length) {
    ;({labels, states} = fresh)
    draw()
    return
  }

  for (let index = 0; index < states.length; index++) {
    if (fresh.states[index] === states[index]) continue
    cells[index].className = `sc s-${fresh.states[index] === '.' ? 'n' : fresh.states[index]}${cells[index].classList.contains('sel') ? ' sel' : ''}`
  }

  states = fresh.states
}

draw()
// When the boxes first reached the screen (the frame after they entered the document), for the benchmark.
requestAnimationFrame(() =>
  setTimeout(() => {
    document.body.dataset.gridPaintedAt = String(performance.now())
  }),
)
let drawnWidth = bar.clientWidth
window.addEventListener('resize', () => {
  if (bar.clientWidth === drawnWidth) return
  drawnWidth = bar.clientWidth
  draw()
})
setInterval(() => {
  refresh().catch(() => {
    // The server is restarting or gone: the bar keeps what it shows and tries again.
  })
}, REFRESH_MS)
