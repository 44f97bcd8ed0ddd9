/** A node with the ids it depends on. */
export interface GraphNode {
  id: string
  upstream: readonly string[]
}

/**
 * Kahn's algorithm, always taking the smallest ready id, so the order is deterministic. Returns the order, or
 * the path of one cycle (`a → b → a`) when there is one.
 */
export function topologicalOrder(nodes: readonly GraphNode[]): {cycle: string[]} | {order: string[]} {
  const indegree = new Map(nodes.map((node) => [node.id, node.upstream.length]))
  const downstream = new Map<string, string[]>(nodes.map((node) => [node.id, []]))
  for (const node of nodes) for (const up of node.upstream) downstream.get(up)?.push(node.id)
  const ready = nodes.filter((node) => node.upstream.length === 0).map((node) => node.id)
  const order: string[] = []
  while (ready.length > 0) {
    ready.sort()
    const id = ready.shift() as string
    order.push(id)
    for (const next of downstream.get(id) ?? []) {
      const remaining = (indegree.get(next) ?? 0) - 1
      indegree.set(next, remaining)
      if (remaining === 0) ready.push(next)
    }
  }

  return order.length === nodes.length ? {order} : {cycle: findCycle(nodes, new Set(order))}
}

function findCycle(nodes: readonly GraphNode[], acyclic: Set<string>): string[] {
  const byId = new Map(nodes.map((node) => [node.id, node]))
  const start = nodes.find((node) => !acyclic.has(node.id)) as GraphNode
  // Every node left over has an unresolved upstream that is also left over, so walking upstream must revisit one.
  const path: string[] = []
  const seenAt = new Map<string, number>()
  let current = start
  while (!seenAt.has(current.id)) {
    seenAt.set(current.id, path.length)
    path.push(current.id)
    const next = current.upstream.find((id) => !acyclic.has(id)) as string
    current = byId.get(next) as GraphNode
  }

  const cycle = path.slice(seenAt.get(current.id)).reverse()
  // Start at the smallest id so the same DAG always reports the same path.
  const first = cycle.indexOf([...cycle].sort()[0] as string)
  const rotated = [...cycle.slice(first), ...cycle.slice(0, first)]
  return [...rotated, rotated[0] as string]
}

/** Every transitive upstream of the given ids, plus the ids themselves. */
export function withUpstream(nodes: readonly GraphNode[], ids: Iterable<string>): Set<string> {
  const byId = new Map(nodes.map((node) => [node.id, node]))
  const result = new Set<string>()
  const stack = [...ids]
  while (stack.length > 0) {
    const id = stack.pop() as string
    if (result.has(id)) continue
    result.add(id)
    stack.push(...(byId.get(id)?.upstream ?? []))
  }

  return result
}

/** Every transitive downstream of the given ids, plus the ids themselves. */
export function withDownstream(nodes: readonly GraphNode[], ids: Iterable<string>): Set<string> {
  const reversed = nodes.map((node) => ({
    id: node.id,
    upstream: nodes.filter((other) => other.upstream.includes(node.id)).map((other) => other.id),
  }))
  return withUpstream(reversed, ids)
}
