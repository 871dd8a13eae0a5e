/** The README walker's reading of a page (test/helpers/markdown-walk.ts): blocks, markers, commands, expectations. */
import { describe, expect, it } from 'vitest';
import { isRunnable, segmentOf, shellBlocks, walkScript } from '../helpers/markdown-walk.ts';

const page = (...lines: string[]) => lines.join('\n');

describe('the markdown walker', () => {
  it('runs sh, bash and shell blocks, not others, and honours a skip marker with its reason', () => {
    const blocks = shellBlocks(
      page(
        '```sh',
        'echo one',
        '```',
        '```text',
        'not run',
        '```',
        '<!-- readme-walk: skip (needs an AWS account) -->',
        '```bash',
        'cdk deploy',
        '```',
        '~~~shell',
        'echo two',
        '~~~',
      ),
      'page',
    );
    expect(blocks.map((b) => [b.lang, b.line, isRunnable(b)])).toEqual([
      ['sh', 1, true],
      ['text', 4, false],
      ['bash', 8, false],
      ['shell', 11, true],
    ]);
    expect(blocks[2]!.marker).toEqual({ kind: 'skip', reason: 'needs an AWS account' });
    const { script } = walkScript(blocks);
    expect(script).toContain('echo one');
    expect(script).toContain('echo two');
    expect(script).not.toContain('cdk deploy');
  });

  it('refuses a skip without a reason, an unknown marker, and a marker away from a fence', () => {
    expect(() => shellBlocks(page('<!-- readme-walk: skip -->', '```sh', 'x', '```'), 'page')).toThrow(
      'page:1: a readme-walk skip marker needs a reason in parentheses',
    );
    expect(() => shellBlocks(page('<!-- readme-walk: later (x) -->', '```sh', 'x', '```'), 'page')).toThrow(
      'unknown readme-walk marker "later"',
    );
    expect(() => shellBlocks(page('<!-- readme-walk: skip (x) -->', 'prose', '```sh', 'x', '```'), 'page')).toThrow(
      'page:1: a readme-walk marker must stand just before a code fence',
    );
    expect(() => shellBlocks(page('```sh', 'x'), 'page')).toThrow('page:1: unclosed code fence');
  });

  it('checks "# →" lines against the output of the command above, continuation lines and quotes included', () => {
    const blocks = shellBlocks(
      page(
        '```sh',
        "X=$(printf '%s' 'a # not a comment' \\",
        "  'b')",
        'echo "$X"',
        '# → a # not a comment…b',
        'echo "{',
        '  two lines }"',
        '# → {',
        "echo 'quiet' &   # in the background",
        '```',
      ),
      'page',
    );
    const walked = walkScript(blocks);
    expect(walked.expectations.map((e) => [e.where, e.text])).toEqual([
      ['page:5', 'a # not a comment…b'],
      ['page:8', '{'],
    ]);
    const transcript = `\n@@begin ${walked.expectations[0]!.segment}\na # not a comment b\n@@end ${walked.expectations[0]!.segment}\n`;
    expect(segmentOf(transcript, walked.expectations[0]!)).toMatch(walked.expectations[0]!.pattern);
    expect('a # not a comment').not.toMatch(walked.expectations[0]!.pattern);
    // Every script line says where in the page it came from.
    expect(walked.origin[walked.script.split('\n').indexOf('  two lines }"')]).toBe('page:7');
  });

  it('refuses to check the output of a background command', () => {
    expect(() => walkScript(shellBlocks(page('```sh', 'sleep 1 &', '# → x', '```'), 'page'))).toThrow(
      'page:3: the output of a background command cannot be checked',
    );
  });
});
