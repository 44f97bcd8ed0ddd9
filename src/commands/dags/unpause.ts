import {PauseStateCommand} from '../../cli/pause.js'

export default class DagsUnpause extends PauseStateCommand {
  static override args = PauseStateCommand.dagIdArgs

  static override enableJsonFlag = true

  static override examples = ['<%= config.bin %> <%= command.id %> sales_pipeline']

  static override summary = 'Unpause a DAG: updraft scheduler runs it on its schedule and polls its sensors again.'

  protected readonly paused = false
}
