import {BackfillPauseCommand} from '../../cli/backfill-pause.js'

export default class BackfillsUnpause extends BackfillPauseCommand {
  static override summary = 'Unpause a backfill (it carries on) or a request (it is queued again for the scheduler).'

  protected readonly paused = false
}
