// The backfill page's grid: drawn once from the data the server put in the page, then kept current by the
// server's event stream. Rows travel as strings of one state letter per run, so an update of 100,000 boxes is a
// string comparison and only the boxes that changed are touched.
const view = JSON.parse(document.getElementById('backfill-data').textContent)
// Each state's letter, name and symbol, in legend order, as the terminal grid has them.
const STATES = Object.fromEntries(view.states.map(({letter, name, symbol}) => [letter, {name, symbol}]))
const grid = document.getElementById('grid')
const detail = document.getElementById('detail')
let rows = view.live.rows

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'})[c])
const classOf = (letter) => (letter === '.' ? 'n' : letter)
const logUrl = (column, task) => `/backfills/${view.record.id}/logs?run=${encodeURIComponent(column.run_id)}&task=${encodeURIComponent(task)}`

// A box carries its state (class, symbol, data-state) and an accessible name that says which task instance it is
// ("extract 2024-01-03: success"); names are escaped once per task and column, not once per box.
const taskNames = view.tasks.map(escapeHtml)
const columnLabels = view.columns.map((column) => escapeHtml(column.label))

function cellHtml(letter, taskIndex, columnIndex) {
  const state = STATES[letter] ?? STATES['.']
  const name = `${taskNames[taskIndex]} ${columnLabels[columnIndex]}: ${state.name}`
  if (letter === 'F') return `<a class="c s-F" role="gridcell" data-state="failed" aria-label="${name}" tabindex="-1" href="${escapeHtml(logUrl(view.columns[columnIndex], view.tasks[taskIndex]))}">${state.symbol}</a>`
  return `<span class="c s-${classOf(letter)}" role="gridcell" data-state="${state.name}" aria-label="${name}">${state.symbol}</span>`
}

// Columns are folded into blocks as wide as the window, as the terminal grid folds to its width; a block out of
// view is neither laid out nor painted (content-visibility), so 100,000 boxes cost what the visible ones cost.
const BOX_PX = 16
let perBlock = 1

// Task names take the width of the longest (up to 40 characters); the boxes take the rest of the line.
const nameWidthPx = Math.min(40, Math.max(4, ...view.tasks.map((task) => task.length)) + 2) * 7
grid.style.setProperty('--name-width', `${nameWidthPx}px`)

function columnsPerBlock() {
  return Math.max(10, Math.floor((grid.clientWidth - nameWidthPx) / BOX_PX))
}

function drawGrid() {
  perBlock = columnsPerBlock()
  const parts = []
  for (let start = 0; start < view.columns.length; start += perBlock) {
    const end = Math.min(start + perBlock, view.columns.length)
    parts.push('<div class="block" role="rowgroup"><div class="row head" role="row"><span class="name" role="columnheader">task</span>')
    for (let columnIndex = start; columnIndex < end; columnIndex++) parts.push(`<span class="col" role="columnheader">${escapeHtml(view.columns[columnIndex].label)}</span>`)
    parts.push('</div>')
    view.tasks.forEach((task, taskIndex) => {
      parts.push(`<div class="row" role="row"><span class="name" role="rowheader">${escapeHtml(task)}</span>`)
      const row = rows[taskIndex] ?? ''
      for (let columnIndex = start; columnIndex < end; columnIndex++) parts.push(cellHtml(row[columnIndex] ?? '.', taskIndex, columnIndex))
      parts.push('</div>')
    })
    parts.push('</div>')
  }
  grid.innerHTML = parts.join('')
  const first = grid.querySelector('.c')
  if (first) first.tabIndex = 0
}

function placeOf(cell) {
  const row = cell.parentElement
  const block = row.parentElement
  const indexIn = (parent, child) => Array.prototype.indexOf.call(parent.children, child)
  return {columnIndex: indexIn(grid, block) * perBlock + indexIn(row, cell) - 1, taskIndex: indexIn(block, row) - 1}
}

function cellAt(taskIndex, columnIndex) {
  return grid.children[Math.floor(columnIndex / perBlock)]?.children[taskIndex + 1]?.children[(columnIndex % perBlock) + 1] ?? null
}

function drawLegend() {
  document.getElementById('legend').innerHTML = Object.entries(STATES)
    .map(([letter, state]) => `<span><span class="c s-${classOf(letter)}" aria-hidden="true">${state.symbol}</span>${state.name}</span>`)
    .join('')
}

function drawFacts(live) {
  document.getElementById('state').innerHTML = `<span class="badge b-${escapeHtml(live.state)}">${escapeHtml(live.state)}</span>`
  document.getElementById('progress').textContent = `${live.progress.done}/${live.progress.total} runs finished`
  const counts = Object.entries(live.counts).map(([state, count]) => `${count} ${state}`)
  document.getElementById('counts').textContent = counts.length === 0 ? 'none started yet' : counts.join(', ')
  document.getElementById('finished').textContent = live.finished_label ?? 'not yet'
  document.getElementById('live-note').textContent = live.state === 'running' ? 'Updating live while the backfill runs.' : ''
  // Each action shows while it applies to the state the backfill is in now.
  const applies = {cancel: ['paused', 'queued', 'running'], pause: ['queued', 'running'], resume: ['paused']}
  for (const action of document.querySelectorAll('#actions form')) action.hidden = !applies[action.dataset.action].includes(live.state)
  if (live.state !== 'queued') document.getElementById('waiting-note').hidden = true
}

function applyRows(next) {
  next.forEach((row, taskIndex) => {
    const previous = rows[taskIndex] ?? ''
    if (row === previous) return
    for (let columnIndex = 0; columnIndex < row.length; columnIndex++) {
      if (row[columnIndex] === previous[columnIndex]) continue
      const old = cellAt(taskIndex, columnIndex)
      if (!old) continue
      const template = document.createElement('template')
      template.innerHTML = cellHtml(row[columnIndex], taskIndex, columnIndex)
      const replacement = template.content.firstChild
      if (old.tabIndex === 0) replacement.tabIndex = 0
      const focused = document.activeElement === old
      old.replaceWith(replacement)
      if (focused) replacement.focus()
    }
  })
  rows = next
}

let detailRequest = 0
async function showDetail(cell) {
  const {taskIndex, columnIndex} = placeOf(cell)
  const task = view.tasks[taskIndex]
  const column = view.columns[columnIndex]
  const state = STATES[rows[taskIndex]?.[columnIndex] ?? '.'] ?? STATES['.']
  const heading = `<h3>${escapeHtml(task)} · ${escapeHtml(column.label)}</h3>`
  detail.innerHTML = `${heading}<dl class="facts"><dt>State</dt><dd>${state.name}</dd></dl>`
  const request = ++detailRequest
  const response = await fetch(`/api/backfills/${view.record.id}/task-instance?run=${encodeURIComponent(column.run_id)}&task=${encodeURIComponent(task)}`)
  if (request !== detailRequest || !response.ok) return
  const ti = await response.json()
  const facts = [
    ['Task', ti.task_id],
    ['Date', ti.label || '—'],
    ['Partition key', ti.partition_key ?? '—'],
    ['State', ti.state],
    ['Try', String(ti.try_number)],
    ['Duration', ti.duration_ms === null ? '—' : ti.duration_ms < 1000 ? `${ti.duration_ms} ms` : `${(ti.duration_ms / 1000).toFixed(1)} s`],
    ['Run id', ti.run_id],
  ]
  const log = ti.log_tail === null ? '<p class="muted">No log yet.</p>' : `<pre>${escapeHtml(ti.log_tail.join('\n'))}</pre><p><a href="${escapeHtml(ti.log_url)}">Full log</a></p>`
  detail.innerHTML = `${heading}<dl class="facts">${facts.map(([name, value]) => `<dt>${name}</dt><dd>${escapeHtml(value)}</dd>`).join('')}</dl>${log}`
}

let hoverTimer = null
grid.addEventListener('mouseover', (event) => {
  const cell = event.target.closest('.c')
  if (!cell) return
  clearTimeout(hoverTimer)
  hoverTimer = setTimeout(() => showDetail(cell), 80)
})
grid.addEventListener('focusin', (event) => {
  const cell = event.target.closest('.c')
  if (cell) showDetail(cell)
})

// A roving tab stop: the grid is one stop in the tab order, and the arrow keys move between its boxes.
grid.addEventListener('keydown', (event) => {
  const cell = event.target.closest('.c')
  if (!cell) return
  const moves = {ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], End: [0, Infinity], Home: [0, -Infinity]}
  const move = moves[event.key]
  if (!move) return
  event.preventDefault()
  const place = placeOf(cell)
  const taskIndex = Math.min(Math.max(place.taskIndex + move[0], 0), view.tasks.length - 1)
  const columnIndex = Math.min(Math.max(place.columnIndex + move[1], 0), view.columns.length - 1)
  const target = cellAt(taskIndex, columnIndex)
  if (!target) return
  cell.tabIndex = -1
  target.tabIndex = 0
  target.focus()
})

drawLegend()
drawGrid()
drawFacts(view.live)
// When the boxes first reached the screen (the frame after they entered the document), for the benchmark.
requestAnimationFrame(() =>
  setTimeout(() => {
    document.body.dataset.gridPaintedAt = String(performance.now())
  }),
)

// A window resized to another number of columns folds the grid again, keeping the box that had focus.
let resizeTimer = null
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer)
  resizeTimer = setTimeout(() => {
    if (columnsPerBlock() === perBlock) return
    const focused = grid.contains(document.activeElement) ? placeOf(document.activeElement) : null
    drawGrid()
    if (focused) {
      const target = cellAt(focused.taskIndex, focused.columnIndex)
      grid.querySelector('[tabindex="0"]').tabIndex = -1
      target.tabIndex = 0
      target.focus()
    }
  }, 150)
})

const events = new EventSource(`/api/backfills/${view.record.id}/live`)
events.addEventListener('live', (event) => {
  const live = JSON.parse(event.data)
  applyRows(live.rows)
  drawFacts(live)
})
