import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  encodeLine,
  encodeWord,
  escapeValue,
  MAX_WORD_LENGTH,
  MAX_WORDS,
  PconfTokenizer,
  parseStatus,
  plainLineWords,
  readPlainLine,
  STATUS_TOKENS,
  tokenize,
} from '../src/index.ts';

/** Feeds bytes to the streaming (server-side) tokenizer; returns every completed line's words. */
function streamLines(bytes: Uint8Array): Array<string[] | 'parse-error'> {
  const tokenizer = new PconfTokenizer({ strict: true });
  const lines: Array<string[] | 'parse-error'> = [];
  for (const b of bytes) {
    const r = tokenizer.push(b);
    if (r === 1) lines.push(tokenizer.take());
    if (r === -1) {
      tokenizer.take();
      lines.push('parse-error');
    }
  }
  return lines;
}

const words = (line: string, strict = true) => tokenize(line, { strict }).words;

describe('tokenizer (NUT parseconf rules)', () => {
  test('splits on any whitespace and ends at a newline', () => {
    assert.deepEqual(words('GET  VAR\tups\vups.status\f\r'), ['GET', 'VAR', 'ups', 'ups.status']);
    assert.deepEqual(words('VER\nNETVER'), ['VER']);
    assert.deepEqual(words(''), []);
  });

  test('quotes group words; backslash escapes inside and outside quotes', () => {
    assert.deepEqual(words('VAR ups x "a b"'), ['VAR', 'ups', 'x', 'a b']);
    assert.deepEqual(words('"a\\"b" "c\\\\d" e\\ f'), ['a"b', 'c\\d', 'e f']);
    assert.deepEqual(words('"" x'), ['', 'x']);
    assert.deepEqual(words('"abc"def'), ['abc', 'def']);
    assert.deepEqual(words('ab"c'), ['ab"c']);
  });

  test('an unquoted = is a word of its own; # starts a comment', () => {
    assert.deepEqual(words('a=b'), ['a', '=', 'b']);
    assert.deepEqual(words('== x'), ['=', '=', 'x']);
    assert.deepEqual(words('"a=b"'), ['a=b']);
    assert.deepEqual(words('x #y z'), ['x']);
    assert.deepEqual(words('x#y'), ['x']);
    assert.deepEqual(words('a\\#b'), ['a#b']);
  });

  test('a # inside quotes is a parse error in strict mode and literal otherwise', () => {
    assert.deepEqual(tokenize('GET DESC ups "a#b" c', { strict: true }), {
      words: ['GET', 'DESC', 'ups', 'a'],
      error: 'Unbalanced word due to unescaped # in quotes',
    });
    assert.deepEqual(tokenize('VAR ups x "a#b"', { strict: false }).words, ['VAR', 'ups', 'x', 'a#b']);
  });

  test('control characters are dropped (without ending the word); bytes above 0x7f only in strict mode', () => {
    assert.deepEqual(words('\u0001VER'), ['VER']);
    assert.deepEqual(words('\u0001 VER'), ['', 'VER']);
    assert.deepEqual(words('V\u0080E\u0000R'), ['VER']);
    assert.deepEqual(words('VER\u007f'), ['VER\u007f']);
    assert.deepEqual(words('"a\tb"'), ['ab']);
    assert.deepEqual(words('VAR ups x "Café"', false), ['VAR', 'ups', 'x', 'Café']);
  });

  test('backslash-newline and an open quote continue the line across newlines', () => {
    assert.deepEqual(streamLines(Buffer.from('GET VAR ups \\\nups.status\n')), [
      ['GET', 'VAR', 'ups', 'ups.status'],
    ]);
    assert.deepEqual(streamLines(Buffer.from('GET DESC ups "abc\nVER\n" x\n')), [
      ['GET', 'DESC', 'ups', 'abcVER', 'x'],
    ]);
  });

  test('words are cut at 512 characters and lines keep 32 words', () => {
    const long = tokenize(`x ${'A'.repeat(600)}`).words;
    assert.equal(long[1]?.length, MAX_WORD_LENGTH);
    assert.equal(tokenize(Array.from({ length: 40 }, (_, i) => `w${i}`).join(' ')).words.length, MAX_WORDS);
  });

  test('a parse error ends the line; the next line parses normally', () => {
    // upsd drops the rest of its read after the error; the tokenizer itself resumes after the '#'.
    assert.deepEqual(streamLines(Buffer.from('A "b#c\nVER\n')), ['parse-error', ['c'], ['VER']]);
  });

  test('encodeWord quotes and escapes only what needs it, and refuses control characters', () => {
    assert.equal(encodeWord('ups.status'), 'ups.status');
    assert.equal(encodeWord(''), '""');
    assert.equal(encodeWord('a b'), '"a b"');
    assert.equal(encodeWord('a=b'), '"a=b"');
    assert.equal(encodeWord('say "hi" #1 \\o/'), '"say \\"hi\\" \\#1 \\\\o/"');
    assert.equal(escapeValue('a"b\\c#d'), 'a\\"b\\\\c\\#d');
    assert.throws(() => encodeWord('a\tb'), RangeError);
    assert.equal(encodeLine(['SET', 'VAR', 'ups', 'x', 'a b']), 'SET VAR ups x "a b"\n');
  });

  // Property: what we encode, NUT's tokenizer reads back exactly (both modes, any printable text).
  const asciiWord = fc.string({
    unit: fc.integer({ min: 0x20, max: 0x7f }).map((c) => String.fromCharCode(c)),
    maxLength: 40,
  });
  const anyWord = fc
    .string({ unit: 'grapheme', maxLength: 40 })
    .filter((s) => [...s].every((c) => (c.codePointAt(0) ?? 0) >= 0x20));

  test('property: tokenize(encodeLine(words)) === words, strict mode, printable ASCII', () => {
    let runs = 0;
    fc.assert(
      fc.property(fc.array(asciiWord, { minLength: 1, maxLength: MAX_WORDS }), (ws) => {
        runs++;
        assert.deepEqual(tokenize(encodeLine(ws), { strict: true }), { words: ws });
        // The streaming tokenizer the server uses agrees with the line tokenizer.
        assert.deepEqual(streamLines(Buffer.from(encodeLine(ws), 'latin1')), [ws]);
      }),
      { numRuns: 2000 },
    );
    assert.equal(runs, 2000);
  });

  test('property: tokenize(encodeLine(words)) === words, lenient mode, any Unicode text', () => {
    fc.assert(
      fc.property(fc.array(anyWord, { minLength: 1, maxLength: MAX_WORDS }), (ws) => {
        assert.deepEqual(tokenize(encodeLine(ws), { strict: false }).words, ws);
      }),
      { numRuns: 2000 },
    );
  });

  test('property: a value escaped the way upsd stores it reads back from a VAR line', () => {
    fc.assert(
      fc.property(asciiWord, (value) => {
        assert.deepEqual(tokenize(`VAR ups x "${escapeValue(value)}"`).words, ['VAR', 'ups', 'x', value]);
      }),
      { numRuns: 2000 },
    );
  });

  // Random bytes, and text made mostly of the characters the tokenizer treats specially.
  const syntax = fc.constantFrom(...'"\\#= \t\r\n\u000b\u0000\u0001\u007f\u0080\u00ffaZ.'.split(''));
  const bytesWithSyntax = fc.oneof(
    fc.uint8Array({ maxLength: 2000, size: 'large' }),
    fc.string({ unit: syntax, maxLength: 600, size: 'large' }).map((t) => Buffer.from(t, 'latin1')),
  );

  test('property: any bytes tokenize without throwing, within the word and length limits', () => {
    fc.assert(
      fc.property(bytesWithSyntax, (bytes) => {
        for (const line of streamLines(bytes)) {
          if (line === 'parse-error') continue;
          assert.ok(line.length <= MAX_WORDS);
          for (const w of line) {
            assert.ok(w.length <= MAX_WORD_LENGTH);
            assert.ok(/^[\u0020-\u007f]*$/.test(w), `strict words are printable ASCII: ${JSON.stringify(w)}`);
          }
        }
      }),
      { numRuns: 3000 },
    );
  });
});

/** readPlainLine + plainLineWords: the words and the index after the newline, or undefined. */
function splitPlainLine(bytes: Buffer, start: number, end: number) {
  const line = readPlainLine(bytes, start, end);
  return line && { words: plainLineWords(line), next: line.next };
}

describe('readPlainLine: the server shortcut for plain request lines', () => {
  /** What the strict tokenizer makes of the first line of `bytes`, if it has a complete one. */
  function firstLine(bytes: Buffer): { words: string[]; next: number } | 'parse-error' | undefined {
    const tokenizer = new PconfTokenizer({ strict: true });
    for (let i = 0; i < bytes.length; i++) {
      const r = tokenizer.push(bytes[i] as number);
      if (r === 1) return { words: tokenizer.take(), next: i + 1 };
      if (r === -1) return 'parse-error';
    }
    return undefined;
  }

  test('splits the usual requests, and leaves anything else to the tokenizer', () => {
    const split = (text: string) => splitPlainLine(Buffer.from(text, 'latin1'), 0, text.length);
    assert.deepEqual(split('GET VAR ups ups.status\nLIST UPS\n'), {
      words: ['GET', 'VAR', 'ups', 'ups.status'],
      next: 23,
    });
    assert.deepEqual(split(' \tGET  VAR\r\n'), { words: ['GET', 'VAR'], next: 12 });
    assert.deepEqual(split('\n'), { words: [], next: 1 });
    for (const text of [
      'GET VAR ups ups.status',
      'SET VAR ups x "1"\n',
      'A=B\n',
      'A#c\n',
      'A\\B\n',
      'A\u0001\n',
    ])
      assert.equal(split(text), undefined, JSON.stringify(text));
    assert.equal(split(`${'x'.repeat(MAX_WORD_LENGTH + 1)}\n`), undefined);
    assert.equal(split(`${'x '.repeat(MAX_WORDS + 1)}\n`), undefined);
    assert.equal(splitPlainLine(Buffer.from('VER\n'), 0, 3), undefined, 'the newline is past the end');
  });

  const lineText = fc.string({
    unit: fc.constantFrom(...'aZ.-_9 \t\r\u000b\u000c\n"#=\\\u0000\u007f\u0080'.split('')),
    maxLength: 80,
  });
  const longWords = fc
    .array(fc.constantFrom('x'.repeat(MAX_WORD_LENGTH), 'x'.repeat(MAX_WORD_LENGTH + 1), 'ab', ' ', '\t'), {
      maxLength: 40,
    })
    .map((parts) => `${parts.join('')}\n`);

  test('property: whenever it answers, it answers what the tokenizer does', () => {
    let answered = 0;
    fc.assert(
      fc.property(fc.oneof(lineText, longWords), fc.nat(8), (text, offset) => {
        const bytes = Buffer.from(`${'#'.repeat(offset)}${text}`, 'latin1');
        const fast = splitPlainLine(bytes, offset, bytes.length);
        if (fast === undefined) return;
        answered++;
        const slow = firstLine(bytes.subarray(offset));
        assert.notEqual(slow, 'parse-error');
        assert.deepEqual(fast, slow && slow !== 'parse-error' ? { ...slow, next: slow.next + offset } : slow);
      }),
      { numRuns: 5000 },
    );
    assert.ok(answered > 500, `only ${answered} of 5000 lines took the shortcut`);
  });
});

describe('parseStatus', () => {
  test('knows every documented token and keeps unknown ones in order', () => {
    const all = Object.keys(STATUS_TOKENS).join(' ');
    const status = parseStatus(`${all} VENDOR1 OL vendor2`);
    assert.deepEqual([...status.known].sort(), Object.keys(STATUS_TOKENS).sort());
    assert.deepEqual(status.unknown, ['VENDOR1', 'vendor2']);
    assert.equal(status.tokens.length, Object.keys(STATUS_TOKENS).length + 2, 'duplicates collapse');
  });

  test('derives the states upsmon acts on', () => {
    const ob = parseStatus('OB DISCHRG');
    assert.equal(ob.onBattery, true);
    assert.equal(ob.onLine, false);
    assert.equal(ob.critical, false);
    const oblb = parseStatus('OB DISCHRG LB');
    assert.equal(oblb.lowBattery, true);
    assert.equal(oblb.critical, true);
    assert.equal(parseStatus('OB LB CAL').critical, false, 'calibration on battery is not critical');
    const fsd = parseStatus('FSD OL');
    assert.equal(fsd.forcedShutdown, true);
    assert.equal(fsd.critical, true);
    assert.equal(fsd.has('OL'), true);
  });

  test('tolerates odd whitespace and empty input', () => {
    assert.deepEqual(parseStatus('  OL \t CHRG  ').tokens, ['OL', 'CHRG']);
    const empty = parseStatus('');
    assert.deepEqual(empty.tokens, []);
    assert.equal(empty.onLine || empty.onBattery, false);
  });
});
