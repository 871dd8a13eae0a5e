/**
 * Reads a markdown page's shell blocks and turns them into one bash script that runs them in order, so a test can
 * check that the page's commands work as written (test/e2e/readme.test.ts).
 *
 * - Runnable blocks: fences with the language `sh`, `bash` or `shell`.
 * - Markers, an HTML comment on the line just before a fence: `<!-- readme-walk: skip (why) -->` leaves the block
 *   out (the reason is required, and visible in the page's source); `<!-- readme-walk: setup (what) -->` names a
 *   block other pages build on (its variables). A marker anywhere else, or an unknown one, is an error.
 * - Expected output: a comment line `# → text` after a command says what that command prints (stdout and stderr);
 *   `…` stands for anything within a line. Each is checked against that command's output only.
 */

export interface Marker {
  kind: 'skip' | 'setup';
  reason: string;
}

export interface ShellBlock {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  /** The lines between the fences, each with its 1-based line number in the page. */
  body: { text: string; line: number }[];
  marker?: Marker;
}

export interface Expectation {
  /** The command whose output is checked (its markers in the transcript). */
  segment: string;
  /** `file:line` of the `# →` comment. */
  where: string;
  text: string;
  pattern: RegExp;
}

export interface WalkScript {
  script: string;
  /** `file:line` of the page for each line of the script (index = script line - 1). */
  origin: string[];
  expectations: Expectation[];
}

const RUNNABLE = new Set(['sh', 'bash', 'shell']);
const MARKER = /^<!--\s*readme-walk:\s*(\S+?)\s*(?:\((.*)\))?\s*-->$/;

/** The fenced blocks of a page, with the marker before each. */
export const shellBlocks = (markdown: string, file: string): ShellBlock[] => {
  const lines = markdown.split('\n');
  const blocks: ShellBlock[] = [];
  let pendingMarker: { marker: Marker; line: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!;
    if (text.includes('readme-walk:')) {
      const m = MARKER.exec(text.trim());
      if (!m) throw new Error(`${file}:${i + 1}: malformed readme-walk marker: ${text.trim()}`);
      if (m[1] !== 'skip' && m[1] !== 'setup')
        throw new Error(`${file}:${i + 1}: unknown readme-walk marker "${m[1]}"`);
      if (!m[2]?.trim())
        throw new Error(`${file}:${i + 1}: a readme-walk ${m[1]} marker needs a reason in parentheses`);
      pendingMarker = { marker: { kind: m[1], reason: m[2].trim() }, line: i + 1 };
      continue;
    }
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(text);
    if (!open) {
      if (pendingMarker && text.trim() !== '') {
        throw new Error(`${file}:${pendingMarker.line}: a readme-walk marker must stand just before a code fence`);
      }
      continue;
    }
    const fence = open[2]!;
    const body: ShellBlock['body'] = [];
    const start = i;
    for (i++; i < lines.length && !lines[i]!.trim().startsWith(fence); i++) body.push({ text: lines[i]!, line: i + 1 });
    if (i >= lines.length) throw new Error(`${file}:${start + 1}: unclosed code fence`);
    blocks.push({
      file,
      line: start + 1,
      lang: open[3] ?? '',
      body,
      ...(pendingMarker ? { marker: pendingMarker.marker } : {}),
    });
    pendingMarker = undefined;
  }
  if (pendingMarker) throw new Error(`${file}:${pendingMarker.line}: a readme-walk marker with no code fence after it`);
  return blocks;
};

export const isRunnable = (block: ShellBlock): boolean => RUNNABLE.has(block.lang) && block.marker?.kind !== 'skip';

/** Whether a command that began earlier goes on after this line: an open quote, or a trailing backslash. */
const continues = (line: string, state: { quote: string | undefined }): boolean => {
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (state.quote === "'") {
      if (c === "'") state.quote = undefined;
    } else if (state.quote === '"') {
      if (c === '\\') i++;
      else if (c === '"') state.quote = undefined;
    } else if (c === '\\') {
      if (i === line.length - 1) return true;
      i++;
    } else if (c === "'" || c === '"') {
      state.quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) {
      break;
    }
  }
  return state.quote !== undefined;
};

const EXPECT = /^\s*# → (.*)$/;

const patternOf = (text: string): RegExp =>
  new RegExp(
    text
      .split('…')
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('[^\\n]*?'),
  );

/**
 * One bash script for `blocks` (the runnable ones), with markers around each command whose output is checked.
 * `preamble` lines run first (a test's own setup, said in the transcript).
 */
export const walkScript = (blocks: ShellBlock[], preamble: string[] = []): WalkScript => {
  const out: string[] = [];
  const origin: string[] = [];
  const emit = (line: string, where: string) => {
    out.push(line);
    origin.push(where);
  };
  const expectations: Expectation[] = [];
  emit('set -euo pipefail', 'walker');
  emit('exec 2>&1', 'walker');
  emit(`trap 'echo "@@failed at script line $LINENO"' ERR`, 'walker');
  for (const line of preamble) emit(line, 'walker preamble');
  for (const block of blocks.filter(isRunnable)) {
    const here = `${block.file}:${block.line}`;
    emit(`echo "@@block ${here}"`, here);
    // Commands (with their lines) and the expectations that follow each.
    const commands: { lines: ShellBlock['body']; expect: Expectation[] }[] = [];
    const state = { quote: undefined as string | undefined };
    let current: ShellBlock['body'] = [];
    for (const entry of block.body) {
      const expected = current.length === 0 ? EXPECT.exec(entry.text) : null;
      if (expected) {
        const last = commands.at(-1);
        const where = `${block.file}:${entry.line}`;
        if (!last) throw new Error(`${where}: "# →" before any command`);
        if (/&\s*(#.*)?$/.test(last.lines.at(-1)!.text) && !/&&\s*(#.*)?$/.test(last.lines.at(-1)!.text)) {
          throw new Error(`${where}: the output of a background command cannot be checked`);
        }
        const text = expected[1]!;
        const expectation = { segment: `${here}.${commands.length - 1}`, where, text, pattern: patternOf(text) };
        last.expect.push(expectation);
        expectations.push(expectation);
        continue;
      }
      current.push(entry);
      if (!continues(entry.text, state)) {
        commands.push({ lines: current, expect: [] });
        current = [];
      }
    }
    if (current.length > 0) throw new Error(`${here}: the block ends inside a command`);
    for (const [n, command] of commands.entries()) {
      const id = `${here}.${n}`;
      if (command.expect.length > 0) emit(`printf '\\n@@begin ${id}\\n'`, here);
      for (const l of command.lines) emit(l.text, `${block.file}:${l.line}`);
      if (command.expect.length > 0) emit(`printf '\\n@@end ${id}\\n'`, here);
    }
  }
  emit('wait', 'walker');
  emit('echo "@@done"', 'walker');
  return { script: `${out.join('\n')}\n`, origin, expectations };
};

/** The output of the command an expectation is about (between its markers), if it ran. */
export const segmentOf = (transcript: string, expectation: Expectation): string | undefined => {
  const begin = `\n@@begin ${expectation.segment}\n`;
  const from = transcript.indexOf(begin);
  const to = transcript.indexOf(`\n@@end ${expectation.segment}\n`, from);
  return from < 0 || to < 0 ? undefined : transcript.slice(from + begin.length, to);
};
