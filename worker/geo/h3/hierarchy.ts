/**
 * Moving up and down the H3 hierarchy with bit operations on a cell's 64-bit index — as (low,
 * high) uint32 words for children and descendants, as bigints (and SQL on UBIGINT columns) for
 * parents. An index holds the resolution in bits 52–55 and one 3-bit digit per resolution
 * 1–15 below it (7 = unused); a pentagon has no child of digit 1.
 */

/** The 12 base cells that are pentagons. */
const PENTAGON_BASE_CELLS = new Set([4, 14, 24, 38, 49, 58, 63, 72, 83, 97, 107, 117]);

/** Digit `k` (1–15) of a cell. */
function getDigit(lo: number, hi: number, k: number): number {
  const pos = (15 - k) * 3;
  if (pos >= 32) return (hi >>> (pos - 32)) & 7;
  if (pos <= 29) return (lo >>> pos) & 7;
  return ((lo >>> 30) | (hi << 2)) & 7; // digit 5 straddles the words
}

function isPentagonCell(lo: number, hi: number, r: number): boolean {
  if (!PENTAGON_BASE_CELLS.has((hi >>> 13) & 0x7f)) return false;
  for (let k = 1; k <= r; k++) if (getDigit(lo, hi, k) !== 0) return false;
  return true;
}

/** Pushes the children (lo, hi, r + 1) of a cell; a pentagon has no child of digit 1. */
export function pushChildren(stack: number[], lo: number, hi: number, r: number): void {
  const k = r + 1;
  const pos = (15 - k) * 3;
  const hiRes = (hi & ~(0xf << 20)) | (k << 20);
  const pent = isPentagonCell(lo, hi, r);
  for (let d = 6; d >= 0; d--) {
    if (d === 1 && pent) continue;
    let clo = lo;
    let chi = hiRes;
    if (pos >= 32) chi = (chi & ~(7 << (pos - 32))) | (d << (pos - 32));
    else if (pos <= 29) clo = ((clo & ~(7 << pos)) | (d << pos)) >>> 0;
    else {
      clo = ((clo & 0x3fffffff) | ((d & 3) << 30)) >>> 0;
      chi = (chi & ~1) | (d >>> 2);
    }
    stack.push(clo, chi >>> 0, k);
  }
}

/** A growable buffer of (lo, hi) cells with bit-operation descendant enumeration. */
export class CellBuffer {
  private buf: Uint32Array;
  private n = 0;

  constructor(cells = 512) {
    this.buf = new Uint32Array(2 * Math.max(16, Math.ceil(cells)));
  }

  push(lo: number, hi: number): void {
    if (this.n + 2 > this.buf.length) this.grow(this.n + 2);
    this.buf[this.n++] = lo;
    this.buf[this.n++] = hi;
  }

  private grow(min: number): void {
    const g = new Uint32Array(Math.max(min, this.buf.length * 2));
    g.set(this.buf.subarray(0, this.n));
    this.buf = g;
  }

  /** All descendants at resolution t of cell (lo, hi) at resolution r, in H3's child order. */
  descendants(lo: number, hi: number, r: number, t: number): void {
    const count = 7 ** (t - r);
    if (this.n + 2 * count > this.buf.length) this.grow(this.n + 2 * count);
    const hiRes = ((hi & ~(0xf << 20)) | (t << 20)) >>> 0;
    this.walk(lo, hiRes, r, t, isPentagonCell(lo, hi, r));
  }

  private walk(lo: number, hi: number, k: number, t: number, pent: boolean): void {
    if (k === t) {
      this.buf[this.n++] = lo;
      this.buf[this.n++] = hi;
      return;
    }
    const j = k + 1;
    const pos = (15 - j) * 3;
    if (pos <= 29 && j === t) {
      // the last level, all in the low word: unrolled
      const base = (lo & ~(7 << pos)) >>> 0;
      const buf = this.buf;
      let n = this.n;
      for (let d = 0; d < 7; d++) {
        if (d === 1 && pent) continue;
        buf[n++] = (base | (d << pos)) >>> 0;
        buf[n++] = hi;
      }
      this.n = n;
      return;
    }
    for (let d = 0; d < 7; d++) {
      if (d === 1 && pent) continue;
      let clo = lo;
      let chi = hi;
      if (pos >= 32) chi = ((chi & ~(7 << (pos - 32))) | (d << (pos - 32))) >>> 0;
      else if (pos <= 29) clo = ((clo & ~(7 << pos)) | (d << pos)) >>> 0;
      else {
        clo = ((clo & 0x3fffffff) | ((d & 3) << 30)) >>> 0;
        chi = ((chi & ~1) | (d >>> 2)) >>> 0;
      }
      this.walk(clo, chi, j, t, pent && d === 0);
    }
  }

  take(): Uint32Array {
    return this.buf.slice(0, this.n);
  }
}

/**
 * `cellToParent` on the integer form: the constants for `(h & keep) | set`, which clear the
 * resolution field and write `r` there, and set the digits below `r` to 7 (unused).
 */
export function parentMasks(r: number): { keep: bigint; set: bigint } {
  return { keep: ~RES_MASK & U64, set: (BigInt(r) << 52n) | lowMask(r) };
}

/** All 64 bits. */
export const U64 = (1n << 64n) - 1n;
/** The resolution field of a cell index. */
const RES_MASK = 0xfn << 52n;
/** The digit bits below resolution `r` (digits r+1..15), all ones = "unused". */
const lowMask = (r: number) => (1n << BigInt(3 * (15 - r))) - 1n;

/** `cellToParent` on the integer form. */
export function parentOf(cell: bigint, r: number): bigint {
  const { keep, set } = parentMasks(r);
  return (cell & keep) | set;
}

/** The [lo, hi] range of the resolution-`res` descendants of `cell` (contiguous in sorted order). */
export function childRange(cell: bigint, cellRes: number, res: number): [bigint, bigint] {
  const base = (cell & ~(RES_MASK | lowMask(cellRes)) & U64) | (BigInt(res) << 52n);
  return [base | lowMask(res), base | lowMask(cellRes)];
}

/** SQL for the parent at `r` of a UBIGINT cell column (bit operations, as cellToParent). */
export function parentSql(col: string, r: number): string {
  const { keep, set } = parentMasks(r);
  return `((${col} & ${keep}::UBIGINT) | ${set}::UBIGINT)`;
}
