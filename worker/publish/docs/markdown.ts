/** Markdown and number formatting shared by the README and the writing brief. */

/** A Markdown table cell: `|` escaped, line breaks folded into spaces. */
export function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n+/g, ' ');
}

/** The anchor id of a heading-like name: `layer-fee`, `codes-pub-access`. */
export function anchor(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

/** An integer with thousands separators: `1,234,567`. */
export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** A number for prose: integers with separators, others with 4 significant digits. */
export function fmtNum(n: number): string {
  return Number.isInteger(n) ? fmtInt(n) : Number(n.toPrecision(4)).toLocaleString('en-US', { maximumFractionDigits: 12 });
}

/** At most `n` characters, `…` marking a cut. */
export function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
