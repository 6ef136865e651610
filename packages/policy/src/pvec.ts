/**
 * A persistent vector: plain nested arrays (so it serializes as JSON) where an update copies only
 * the chunk it touches and the short outer array. With 10 000 hosts one engine step copies a few
 * hundred references instead of the whole host table, which keeps a step cheap and the old state intact.
 */
export interface PVec<T> {
  readonly size: number;
  readonly chunks: ReadonlyArray<ReadonlyArray<T>>;
}

const SHIFT = 6;
const CHUNK = 1 << SHIFT;
const MASK = CHUNK - 1;

export function pvecOf<T>(items: readonly T[]): PVec<T> {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) chunks.push(items.slice(i, i + CHUNK));
  return { size: items.length, chunks };
}

export function pvecGet<T>(vec: PVec<T>, i: number): T {
  return vec.chunks[i >>> SHIFT]![i & MASK]!;
}

/** The items from `start` on, in a new array. */
export function pvecSlice<T>(vec: PVec<T>, start: number): T[] {
  const items: T[] = [];
  for (let i = start; i < vec.size; i++) items.push(pvecGet(vec, i));
  return items;
}

/**
 * Copy-on-write editing of a vector during one step: each chunk is copied at most once, however
 * many of its items change. `finish()` returns the original vector when nothing changed.
 * Chunks keep the elements kind of the arrays they were made from: give `pvecOf` arrays without
 * holes (a push loop, not `map` or `new Array(n)`), so that the engine's reads see few kinds.
 * Use it for numbers, and `TextDraft` for strings (see `pvecGetText`).
 */
export class PVecDraft<T> {
  /** The draft's chunks once one was changed: a chunk still `===` the base's is not copied yet. */
  protected chunks: T[][] | undefined;
  private size: number;

  constructor(protected readonly base: PVec<T>) {
    this.size = base.size;
  }

  get length(): number {
    return this.size;
  }

  get(i: number): T {
    const chunks = this.chunks ?? (this.base.chunks as T[][]);
    return chunks[i >>> SHIFT]![i & MASK]!;
  }

  set(i: number, value: T): void {
    this.writable(i >>> SHIFT)[i & MASK] = value;
  }

  push(value: T): void {
    if ((this.size & MASK) === 0) this.outer().push([value]);
    else this.writable(this.size >>> SHIFT).push(value);
    this.size++;
  }

  finish(): PVec<T> {
    return this.chunks ? { size: this.size, chunks: this.chunks } : this.base;
  }

  private outer(): T[][] {
    this.chunks ??= this.base.chunks.slice() as T[][];
    return this.chunks;
  }

  protected writable(c: number): T[] {
    const chunks = this.outer();
    const chunk = chunks[c]!;
    // Chunks past the base's were made by this draft.
    if (c >= this.base.chunks.length || chunk !== this.base.chunks[c]) return chunk;
    const copy = chunk.slice();
    chunks[c] = copy;
    return copy;
  }
}

/**
 * A vector of strings reads and writes its items with code of its own, the same as `pvecGet` and
 * `PVecDraft`'s: V8 keeps type feedback per function, and optimized code that reads or writes
 * arrays of numbers and arrays of strings at one site turns the number arrays into arrays of
 * boxed values (a double stored in one then allocates, and every read unboxes).
 */
export function pvecGetText(vec: PVec<string>, i: number): string {
  return vec.chunks[i >>> SHIFT]![i & MASK]!;
}

/** A draft of strings (see `pvecGetText`). */
export class TextDraft extends PVecDraft<string> {
  override get(i: number): string {
    const chunks = this.chunks ?? (this.base.chunks as string[][]);
    return chunks[i >>> SHIFT]![i & MASK]!;
  }

  override set(i: number, value: string): void {
    this.writable(i >>> SHIFT)[i & MASK] = value;
  }
}
