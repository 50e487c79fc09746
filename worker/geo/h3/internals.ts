/**
 * Reaching h3-js: its public API, loaded on first use, and its compiled core. h3-js 4.5 is
 * Emscripten (asm.js); {@link loadRawH3} evaluates its CommonJS build privately to reach the
 * Emscripten module (heap, malloc) and the C bindings behind the public API — same C code, but
 * cells as (low, high) words on the heap instead of hex strings. Null when h3-js's layout is not
 * the expected one (a future version): callers then use the public API.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

type H3Js = typeof import('h3-js');
let publicH3: H3Js | undefined;
/** h3-js's public API, loaded on first use (threads on the fast path never need it). */
export function pub(): H3Js {
  return (publicH3 ??= createRequire(import.meta.url)('h3-js') as H3Js);
}

/** h3-js's Emscripten module (heap, allocator) and its wrapped C functions. */
export interface RawH3 {
  libh3: {
    _malloc(n: number): number;
    _calloc(n: number, size: number): number;
    _free(p: number): void;
    _cellToLatLng?: (lo: number, hi: number, out: number) => number;
    HEAPU32: Uint32Array;
    HEAPF64: Float64Array;
  };
  H3: Record<string, (...args: number[]) => number>;
}

/** Evaluates h3-js's CommonJS build privately to reach its Emscripten module and C bindings. */
export function loadRawH3(): RawH3 | null {
  try {
    const require = createRequire(import.meta.url);
    const main = require.resolve('h3-js');
    const src = readFileSync(main, 'utf8');
    const mod = { exports: {} as Record<string, unknown> };
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    new Function('exports', 'require', 'module', `${src}\n;module.exports.__cngRaw = { libh3: libh3, H3: H3 };`)(mod.exports, require, mod);
    const raw = mod.exports.__cngRaw as RawH3 | undefined;
    if (!raw?.libh3?._malloc || typeof raw.H3?.polygonToCellsExperimental !== 'function') return null;
    const H3 = raw.H3;
    if (H3.sizeOfGeoPolygon() !== 16 || H3.sizeOfGeoLoop() !== 8 || H3.sizeOfLatLng() !== 16 || H3.sizeOfH3Index() !== 8) return null;
    return raw;
  } catch {
    return null;
  }
}
