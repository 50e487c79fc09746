/** Small text helpers shared by the worker and the CLI: SQL quoting, messages, sizes, counts. */

/** A DuckDB string literal: `'it''s'`. */
export const sqlString = (s: string): string => `'${s.replaceAll("'", "''")}'`;

/** A DuckDB identifier: `"a ""b"""`. */
export const sqlIdent = (s: string): string => `"${s.replaceAll('"', '""')}"`;

/** A URL's or path's file name: its last path part, query string and fragment dropped (`…/x.zip?download=1` → `x.zip`). */
export function fileNameOf(source: string): string {
  return source.replace(/[?#].*$/, '').replace(/\/+$/, '').split('/').pop() ?? '';
}

/** The first non-empty line of a (library's multi-line) message. */
export function firstLine(message: string): string {
  return message.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? 'unknown error';
}

/** A message folded onto one line (whitespace collapsed), at most `max` characters. */
export function oneLine(s: string, max = 300): string {
  return s.replace(/\s+/g, ' ').trim().slice(0, max);
}

/** Bytes in binary units: `512 B`, `1.5 KiB`, `3.2 GiB` (`-` when unknown). */
export function human(bytes: number | undefined): string {
  if (bytes === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = bytes;
  while (v >= 1024 && i < units.length - 1) (v /= 1024), i++;
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
}

/** A count with its noun: `1 pod`, `3 pods`, `2 indices` (with `many`). */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/**
 * A Kubernetes quantity ('500m', '4Gi', '1e3', '2', '5K') as a number (bytes for memory and
 * storage, cores for CPU); NaN when it is not a quantity.
 */
export function parseQuantity(q: string): number {
  const m = /^([+-]?[0-9.]+(?:[eE][+-]?\d+)?)\s*(m|k|K|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(String(q).trim());
  if (!m) return NaN;
  const mult: Record<string, number> = {
    m: 1e-3, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
    Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
  };
  return Number(m[1]) * (m[2] ? mult[m[2]] : 1);
}

/**
 * Rows as an aligned plain-text table: a header row, a rule of dashes, then the rows; a column is
 * right-aligned when `right(c)` says so (by default every column but the first).
 */
export function alignedTable(rows: string[][], right: (column: number) => boolean = (c) => c > 0): string {
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const fmt = (r: string[]) => r.map((x, c) => (right(c) ? x.padStart(w[c]) : x.padEnd(w[c]))).join('  ').trimEnd();
  return [fmt(rows[0]), w.map((n) => '-'.repeat(n)).join('  '), ...rows.slice(1).map(fmt)].join('\n') + '\n';
}
