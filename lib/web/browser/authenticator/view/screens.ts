/** The screens around the enrolled authenticator: each a function of its state. */
import { h } from '../../dom.ts';
import { problemText, screens } from '../copy.ts';
import type { Screen } from '../state.ts';
import { notice } from './notice.ts';

export const simpleScreen = (screen: Exclude<Screen, { name: 'device' | 'loading' }>, tenantName: string): Node => {
  switch (screen.name) {
    case 'insecure':
      return notice('error', screens.insecure.title, ...screens.insecure.text);
    case 'not-enrolled': {
      const copy = screens.notEnrolled(tenantName, screen.removed);
      return notice('info', copy.title, ...copy.text);
    }
    case 'enrolling':
      return h(
        'section',
        { class: 'card', 'aria-busy': 'true' },
        h('h1', {}, screens.enrolling.title),
        h('p', { class: 'muted' }, screens.enrolling.text),
      );
    case 'enroll-failed':
      return notice('error', screens.enrollFailed.title, problemText(screen.problem), screens.enrollFailed.after);
    case 'unreachable':
      return notice('error', screens.unreachable.title, problemText(screen.problem), screens.unreachable.after);
    case 'failed':
      return notice('error', screens.failed.title, problemText(screen.problem));
  }
};
