/**
 * NUT's `parseconf` tokenizer, the one both ends of the wire use (common/parseconf.c in NUT 2.8.0),
 * reproduced character by character so that our server splits every input exactly as upsd does
 * and our client reads every reply exactly as libupsclient does.
 *
 * Rules: words are separated by whitespace (space, \t, \v, \f, \r); a newline ends the line;
 * `"…"` groups a word in which `\` escapes the next character; outside quotes `\` also escapes the
 * next character and a backslash-newline continues the line; `#` outside quotes starts a comment;
 * an unquoted `=` is a word of its own; control characters are dropped; a word is cut at 512
 * characters and a line keeps at most 32 words.
 */

/** upsd drops words past the 32nd and characters past the 512th of a word (PCONF_DEFAULT_*_LIMIT). */
export const MAX_WORDS = 32;
export const MAX_WORD_LENGTH = 512;

enum State {
  FindWordStart = 1,
  FindEol = 2,
  QuoteCollect = 3,
  QuoteLiteral = 4,
  Collect = 5,
  CollectLiteral = 6,
  EndOfLine = 7,
  ParseError = 8,
}

const NEWLINE = 10;
const HASH = 0x23;
const BACKSLASH = 0x5c;
const QUOTE = 0x22;
const EQUALS = 0x3d;

/** C `isspace` in the C locale. */
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

export interface TokenizerOptions {
  /**
   * `true` (upsd 2.8.0 exactly): characters above 0x7f are dropped and a `#` inside quotes is a
   * parse error. `false` (what a tolerant client wants): non-ASCII characters are kept and a `#`
   * inside quotes is taken literally, as NUT after 2.8.5 does.
   */
  strict: boolean;
}

/** The outcome of one line: its words, and the parse error that ended it early, if any. */
export interface TokenizedLine {
  words: string[];
  error?: string;
}

/**
 * Streaming tokenizer fed one character code at a time, like `pconf_char()`: `push` answers 1 when
 * a line is complete (read it with `take()`), -1 on a parse error, 0 otherwise. Memory is bounded
 * by the word and argument limits whatever the input.
 */
export class PconfTokenizer {
  private state: State = State.FindWordStart;
  private words: string[] = [];
  private word: number[] = [];
  private ch = 0;
  /** The message of the last parse error (upsd logs it and answers nothing). */
  errorMessage = '';

  constructor(private readonly options: TokenizerOptions = { strict: true }) {}

  push(ch: number): 0 | 1 | -1 {
    if (this.state === State.EndOfLine || this.state === State.ParseError) {
      this.words = [];
      this.state = State.FindWordStart;
    }
    this.ch = ch;
    this.state = this.step();
    if (this.state === State.EndOfLine) return 1;
    if (this.state === State.ParseError) return -1;
    return 0;
  }

  /** No line is in progress: the next character starts a new one (leading blanks may have been read). */
  get atLineStart(): boolean {
    return (
      this.state === State.EndOfLine ||
      this.state === State.ParseError ||
      (this.state === State.FindWordStart && this.words.length === 0)
    );
  }

  /** The words of the line `push` just completed (or broke off with a parse error). */
  take(): string[] {
    const words = this.words;
    this.words = [];
    return words;
  }

  /** Ends the input like `pconf_line()` does at the end of its string: a word in progress is kept. */
  finish(): string[] {
    if (this.state !== State.EndOfLine && this.state !== State.ParseError && this.word.length > 0) {
      this.endOfWord();
    }
    this.state = State.EndOfLine;
    return this.take();
  }

  private step(): State {
    switch (this.state) {
      case State.FindWordStart:
        return this.findWordStart();
      case State.FindEol:
        return this.ch === NEWLINE ? State.EndOfLine : State.FindEol;
      case State.QuoteCollect:
        return this.quoteCollect();
      case State.QuoteLiteral:
        if (this.ch !== NEWLINE) this.addChar();
        return State.QuoteCollect;
      case State.Collect:
        return this.collect();
      case State.CollectLiteral:
        if (this.ch !== NEWLINE) this.addChar();
        return State.Collect;
      default:
        return this.state;
    }
  }

  private findWordStart(): State {
    const c = this.ch;
    if (c === NEWLINE) return State.EndOfLine;
    if (c === HASH) return State.FindEol;
    if (isSpace(c)) return State.FindWordStart;
    if (c === BACKSLASH) return State.CollectLiteral;
    if (c === QUOTE) return State.QuoteCollect;
    this.addChar();
    if (c === EQUALS) {
      this.endOfWord();
      return State.FindWordStart;
    }
    return State.Collect;
  }

  private quoteCollect(): State {
    const c = this.ch;
    if (c === HASH && this.options.strict) {
      this.errorMessage = 'Unbalanced word due to unescaped # in quotes';
      this.endOfWord();
      return State.ParseError;
    }
    if (c === QUOTE) {
      this.endOfWord();
      return State.FindWordStart;
    }
    if (c === BACKSLASH) return State.QuoteLiteral;
    this.addChar();
    return State.QuoteCollect;
  }

  private collect(): State {
    const c = this.ch;
    if (c === HASH) {
      this.endOfWord();
      return State.FindEol;
    }
    if (c === NEWLINE) {
      this.endOfWord();
      return State.EndOfLine;
    }
    if (isSpace(c)) {
      this.endOfWord();
      return State.FindWordStart;
    }
    if (c === EQUALS) {
      this.endOfWord();
      this.findWordStart();
      return State.FindWordStart;
    }
    if (c === BACKSLASH) return State.CollectLiteral;
    this.addChar();
    return State.Collect;
  }

  private addChar(): void {
    const c = this.ch;
    // CVE-2012-2944: parseconf keeps only space to DEL.
    if (c < 0x20 || (c > 0x7f && this.options.strict)) return;
    if (this.word.length >= MAX_WORD_LENGTH) return;
    this.word.push(c);
  }

  private endOfWord(): void {
    if (this.words.length < MAX_WORDS) this.words.push(String.fromCharCode(...this.word));
    this.word = [];
  }
}

/** For `readPlainLine`: 1 = a character parseconf keeps as it is, 2 = a blank between words. */
const PLAIN_LINE_BYTES = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) PLAIN_LINE_BYTES[c] = 1;
for (const c of [QUOTE, HASH, EQUALS, BACKSLASH]) PLAIN_LINE_BYTES[c] = 0;
for (const c of [0x09, 0x0b, 0x0c, 0x0d, 0x20]) PLAIN_LINE_BYTES[c] = 2;
const BLANKS = /[\t\v\f\r ]+/;

/** A complete line that `readPlainLine` found plain. */
export interface PlainLine {
  /** The line without its newline. */
  text: string;
  /** Index after the newline. */
  next: number;
  wordCount: number;
  /** Words separated by single spaces, nothing before or after: the text stands for its words. */
  singleSpaced: boolean;
}

/**
 * The strict tokenizer's shortcut for the usual request line: when `bytes[start..end)` holds a
 * complete line (up to its newline) made only of plain words and blanks — no quote, `#`, `=`,
 * backslash, control or non-ASCII byte, no word past 512 characters, at most 32 words — that line.
 * Otherwise undefined: the line needs the tokenizer, or is not complete yet. `plainLineWords` gives
 * its words, exactly as `PconfTokenizer` would.
 */
export function readPlainLine(bytes: Buffer, start: number, end: number): PlainLine | undefined {
  let wordCount = 0;
  let wordLength = 0;
  let singleSpaced = true;
  let afterBlank = true;
  for (let i = start; i < end; i++) {
    const c = bytes[i] as number;
    const kind = PLAIN_LINE_BYTES[c];
    if (kind === 1) {
      if (wordLength++ === 0) wordCount++;
      if (wordLength > MAX_WORD_LENGTH) return undefined;
      afterBlank = false;
    } else if (kind === 2) {
      if (c !== 0x20 || afterBlank) singleSpaced = false;
      afterBlank = true;
      wordLength = 0;
    } else {
      if (c !== NEWLINE || wordCount > MAX_WORDS) return undefined;
      return {
        text: bytes.toString('latin1', start, i),
        next: i + 1,
        wordCount,
        singleSpaced: singleSpaced && !afterBlank,
      };
    }
  }
  return undefined;
}

/** The words of a plain line. */
export function plainLineWords(line: PlainLine): string[] {
  if (line.wordCount === 0) return [];
  return line.singleSpaced ? line.text.split(' ') : line.text.split(BLANKS).filter((w) => w !== '');
}

/**
 * Splits one line (without or with its newline) into words the way `pconf_line()` does: parsing
 * stops at a newline or a parse error; a word still open at the end of the string is kept.
 */
export function tokenize(line: string, options: TokenizerOptions = { strict: false }): TokenizedLine {
  const tokenizer = new PconfTokenizer(options);
  for (let i = 0; i < line.length; i++) {
    const r = tokenizer.push(line.charCodeAt(i));
    if (r === 1) return { words: tokenizer.take() };
    if (r === -1) return { words: tokenizer.take(), error: tokenizer.errorMessage };
  }
  return { words: tokenizer.finish() };
}

const NEEDS_ESCAPE = /[\\"#]/g;

/** `pconf_encode()`: a backslash before each `\`, `"` and `#`. upsd stores and sends values this way. */
export function escapeValue(value: string): string {
  return value.replace(NEEDS_ESCAPE, '\\$&');
}

const PLAIN_WORD = /^[^\s"#\\=]+$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly the characters rejected
const CONTROL = /[\x00-\x1f]/;

/**
 * Encodes one word so that the tokenizer reads back exactly `value`: escaped, and quoted when it is
 * empty or contains whitespace, `=`, or a character that would need an escape. Control characters
 * cannot cross the wire (parseconf drops them), so they are refused.
 */
export function encodeWord(value: string): string {
  if (CONTROL.test(value)) {
    throw new RangeError(`NUT cannot carry control characters: ${JSON.stringify(value)}`);
  }
  if (PLAIN_WORD.test(value)) return value;
  return `"${escapeValue(value)}"`;
}

/** One request line: every word encoded, separated by single spaces, ending in a newline. */
export function encodeLine(words: readonly string[]): string {
  return `${words.map(encodeWord).join(' ')}\n`;
}
