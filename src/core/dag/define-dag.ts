import type {DagDefinition} from './model.js'
import {validateDag} from './validate.js'

/** Types a DAG definition and checks it at import time, so a mistake surfaces at the line that made it. */
export function defineDag<T extends DagDefinition>(definition: T): T {
  validateDag(definition, 'defineDag()', definition.dag_id ?? 'dag')
  return definition
}
