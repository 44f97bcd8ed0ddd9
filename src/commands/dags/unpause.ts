import {PauseStateCommand} from '../../cli/pause.js'

export default class DagsUnpause extends PauseStateCommand {
  static override summary = 'Unpause a DAG: updraft scheduler runs it on its schedule and polls its sensors again.'

  protected readonly paused = false
}
