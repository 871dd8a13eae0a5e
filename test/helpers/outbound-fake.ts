import { outboundUrlProblem } from '../../lib/adapters/guarded-outbound-http.ts';
import type { OutboundHttp, OutboundResult } from '../../lib/ports.ts';

/**
 * The OutboundHttp port for unit tests: the adapter's own URL policy decides refusals; a call records what was asked
 * and answers from `answers` (the last one repeats), so no test reaches the network.
 */
export const fakeOutbound = (answers: OutboundResult[] = [{ error: 'no network in unit tests' }]) => {
  const calls: {
    url: string;
    method: string;
    headers: Record<string, string>;
    body: unknown;
    allowPrivateNetwork: boolean;
  }[] = [];
  let answered = 0;
  const next = () => answers[Math.min(answered++, answers.length - 1)]!;
  const outbound: OutboundHttp = {
    refusal: (url, options) => outboundUrlProblem(url, options.allowPrivateNetwork, options.name),
    async request(url, input) {
      calls.push({
        url,
        method: input.method,
        headers: input.headers ?? {},
        body: input.body,
        allowPrivateNetwork: input.allowPrivateNetwork,
      });
      const answer = next();
      return 'error' in answer ? answer : { ...answer, headers: {} };
    },
    async postJson(url, input) {
      calls.push({
        url,
        method: 'POST',
        headers: input.headers,
        body: JSON.parse(input.body),
        allowPrivateNetwork: input.allowPrivateNetwork,
      });
      return next();
    },
  };
  return { outbound, calls };
};
