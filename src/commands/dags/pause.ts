import {PauseStateCommand} from '../../cli/pause.js'

export default class DagsPause extends PauseStateCommand {
  static override summary = 'Pause a DAG: updraft scheduler starts none of its runs and polls none of its sensors until it is unpaused.'

  protected readonly paused = true
}
