export {defineDag} from './core/dag/define-dag.js'
export type {DagDefinition, TaskCallable, TaskContext, TaskDefaults, TaskDefinition} from './core/dag/model.js'
export type {DurationInput, DurationObject} from './core/schedule/duration.js'
