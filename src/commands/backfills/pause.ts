import {BackfillPauseCommand} from '../../cli/backfill-pause.js'

export default class BackfillsPause extends BackfillPauseCommand {
  static override summary = 'Pause a backfill or request from any shell: no new task instance starts, running ones finish; it reads paused.'

  protected readonly paused = true
}
