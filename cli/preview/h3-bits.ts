/**
 * H3 cell ids as BigInt: parents and child ranges by bit arithmetic, so the same constants serve
 * in DuckDB SQL (`(h & keep) | set`). The worker's H3 engine has the same parent bits
 * (worker/geo/h3/engine.ts `parentMask`).
 */

const RES_MASK = 0xfn << 52n;
/** All 64 bits. */
export const U64 = (1n << 64n) - 1n;
/** The digit bits below resolution `r` (digits r+1..15), all ones = "unused". */
const lowMask = (r: number) => (1n << BigInt(3 * (15 - r))) - 1n;

/** `cellToParent` on the integer form: the constants for `(h & keep) | set`. */
export function parentMasks(r: number): { keep: bigint; set: bigint } {
  return { keep: ~(RES_MASK | lowMask(r)) & U64, set: (BigInt(r) << 52n) | lowMask(r) };
}

/** The [lo, hi] range of the resolution-`res` descendants of `cell` (contiguous in sorted order). */
export function childRange(cell: bigint, cellRes: number, res: number): [bigint, bigint] {
  const base = (cell & ~(RES_MASK | lowMask(cellRes)) & U64) | (BigInt(res) << 52n);
  return [base | lowMask(res), base | lowMask(cellRes)];
}

/** `cellToParent` on the integer form. */
export function parentOf(cell: bigint, r: number): bigint {
  const { keep, set } = parentMasks(r);
  return (cell & keep) | set;
}
