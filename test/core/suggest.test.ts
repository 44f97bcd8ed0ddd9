import {describe, expect, it} from '@jest/globals'

import {selectTasks} from '../../src/core/dag/select.js'
import {closeMatch} from '../../src/core/suggest.js'
import {bashTasks, makeDag} from '../helpers/builders.js'

describe('suggestions', () => {
  it('suggest a close spelling and nothing when none is close', () => {
    expect(closeMatch('salse', ['sales_pipeline', 'sales'])).toBe('sales')
    expect(closeMatch('--end-dat', ['--end-date', '--start-date'])).toBe('--end-date')
    expect(closeMatch('nope', ['transform', 'sales_pipeline'])).toBeNull()
    expect(closeMatch('anything', [])).toBeNull()
  })

  it('NO_TASK_MATCHES suggests the closest task when one is close', () => {
    const dag = makeDag({tasks: bashTasks('extract', 'load:extract')})
    const refusal = (pattern: string) => {
      try {
        selectTasks(dag, new RegExp(pattern), false)
      } catch (error) {
        return (error as {code: string; suggestions: string[]}).suggestions
      }

      return null
    }

    expect(refusal('^extrct$')).toEqual(["-t '^extract$'"])
    expect(refusal('^zzz$')).toEqual([])
  })
})
