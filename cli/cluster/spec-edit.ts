/**
 * Editing a dataset file (datasets/<name>.ts) as text, for `cng doctor --apply`: set, add or
 * delete one property of the exported dataset object literal while every other byte of the file
 * stays as it was (comments, spacing, one-line objects).
 */

/** A change to a dataset file: set (or delete) the value at a path of its object literal. */
export interface SpecEdit {
  /** Property path from the dataset object, e.g. ['layers', 'fee', 'resources', 'hex', 'memory']. */
  path: string[];
  /** TypeScript source of the value; undefined deletes the property. */
  value?: string;
}

/** A single-quoted TypeScript string literal: `'it\'s'`. */
export const tsString = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * A careful editor of the dataset object literal in a dataset file: finds properties by key
 * (skipping strings, comments and nested brackets), replaces values, inserts properties in the
 * file's own style, deletes them. It refuses (throws) rather than guess: a value that is not an
 * object literal on the way, a spread that might define the key, no exported object literal.
 */
export class SpecFileEditor {
  text: string;
  private readonly root: number;

  constructor(text: string) {
    this.text = text;
    const m = /export\s+const\s+[A-Za-z_$][\w$]*\s*(?::\s*[A-Za-z_$][\w$.<>]*\s*)?=\s*\{/.exec(text);
    if (!m) throw new Error('no `export const … = { … }` object literal in the dataset file');
    this.root = m.index + m[0].length - 1;
  }

  /** Sets the value at `path` (TypeScript source), creating objects on the way; deletes it when value is undefined. */
  apply(edit: SpecEdit): void {
    if (edit.value === undefined) this.delete(edit.path);
    else this.set(edit.path, edit.value);
  }

  set(path: string[], value: string): void {
    let obj = this.root;
    for (let i = 0; i < path.length; i++) {
      const key = path[i];
      const props = this.props(obj);
      const p = props.find((x) => x.key === key);
      const last = i === path.length - 1;
      if (!p) {
        if (props.some((x) => x.key === undefined))
          throw new Error(`cannot add ${path.slice(0, i + 1).join('.')}: the object holds a spread or computed entry that might define it; edit the file by hand`);
        this.insert(obj, props, key, nest(path.slice(i + 1), value));
        return;
      }
      if (last) {
        this.text = this.text.slice(0, p.valueStart) + value + this.text.slice(p.valueEnd);
        return;
      }
      if (this.text[p.valueStart] !== '{')
        throw new Error(`cannot edit ${path.slice(0, i + 1).join('.')}: its value is not an object literal (${this.text.slice(p.valueStart, p.valueEnd).slice(0, 40)}); edit the file by hand`);
      obj = p.valueStart;
    }
  }

  delete(path: string[]): void {
    let obj = this.root;
    for (let i = 0; i < path.length; i++) {
      const props = this.props(obj);
      const p = props.find((x) => x.key === path[i]);
      if (!p) return;
      if (i < path.length - 1) {
        if (this.text[p.valueStart] !== '{') return;
        obj = p.valueStart;
        continue;
      }
      const idx = props.indexOf(p);
      const t = this.text;
      const lineStart = t.lastIndexOf('\n', p.start - 1) + 1;
      const restOfLine = /^[ \t]*(\/\/[^\n]*)?\n/.exec(t.slice(p.end));
      if (/^\s*$/.test(t.slice(lineStart, p.start)) && restOfLine) this.text = t.slice(0, lineStart) + t.slice(p.end + restOfLine[0].length);
      else if (idx < props.length - 1) this.text = t.slice(0, p.start) + t.slice(props[idx + 1].start);
      else if (idx > 0) this.text = t.slice(0, props[idx - 1].valueEnd) + t.slice(p.valueEnd);
      else this.text = t.slice(0, obj + 1) + t.slice(this.matching(obj));
    }
  }

  /** The value source at a path, or undefined. */
  get(path: string[]): string | undefined {
    let obj = this.root;
    for (let i = 0; i < path.length; i++) {
      const p = this.props(obj).find((x) => x.key === path[i]);
      if (!p) return undefined;
      if (i === path.length - 1) return this.text.slice(p.valueStart, p.valueEnd);
      if (this.text[p.valueStart] !== '{') return undefined;
      obj = p.valueStart;
    }
    return undefined;
  }

  private insert(obj: number, props: Prop[], key: string, value: string): void {
    const t = this.text;
    const close = this.matching(obj);
    const entry = `${propKey(key)}: ${value}`;
    const inner = t.slice(obj + 1, close);
    if (!props.length) {
      if (inner.includes('\n')) {
        const indent = lineIndent(t, obj) + '  ';
        this.text = `${t.slice(0, obj + 1)}\n${indent}${entry},\n${lineIndent(t, obj)}${t.slice(close)}`;
      } else this.text = `${t.slice(0, obj + 1)} ${entry} ${t.slice(close)}`;
      return;
    }
    const last = props[props.length - 1];
    const trailingComma = t.slice(last.valueEnd, close).trimStart().startsWith(',');
    if (!inner.includes('\n')) {
      const oneLine = `${t.slice(0, last.valueEnd)}, ${entry}${trailingComma ? ',' : ''}${t.slice(trailingComma ? t.indexOf(',', last.valueEnd) + 1 : last.valueEnd)}`;
      const lineStart = t.lastIndexOf('\n', obj) + 1;
      const lineEnd = oneLine.indexOf('\n', lineStart);
      if ((lineEnd < 0 ? oneLine.length : lineEnd) - lineStart <= 120 || this.hasComment(obj + 1, close)) {
        this.text = oneLine;
        return;
      }
      // Too long for one line: lay the object out one property per line.
      const indent = lineIndent(t, obj);
      const entries = [...props.map((p) => t.slice(p.start, p.valueEnd)), entry];
      this.text = `${t.slice(0, obj)}{\n${entries.map((e) => `${indent}  ${e},`).join('\n')}\n${indent}}${t.slice(close + 1)}`;
      return;
    }
    const indent = lineIndent(t, last.start);
    let at = trailingComma ? t.indexOf(',', last.valueEnd) + 1 : last.valueEnd;
    const comment = /^[ \t]*\/\/[^\n]*/.exec(t.slice(at));
    if (comment) at += comment[0].length;
    const sep = trailingComma ? '' : ',';
    const before = trailingComma ? t.slice(0, at) : t.slice(0, last.valueEnd) + sep + t.slice(last.valueEnd, at);
    this.text = `${before}\n${indent}${entry}${trailingComma ? ',' : ''}${t.slice(at)}`;
  }

  /** Whether a comment occurs between from and to (strings skipped). */
  private hasComment(from: number, to: number): boolean {
    const t = this.text;
    for (let j = from; j < to; ) {
      const c = t[j];
      if (c === '/' && (t[j + 1] === '/' || t[j + 1] === '*')) return true;
      j = c === "'" || c === '"' || c === '`' ? this.skipString(j) : j + 1;
    }
    return false;
  }

  /** Properties of the object literal whose `{` is at `open`. */
  private props(open: number): Prop[] {
    const t = this.text;
    const close = this.matching(open);
    const out: Prop[] = [];
    let i = open + 1;
    while (true) {
      i = this.skipTrivia(i);
      if (i >= close) break;
      const start = i;
      let key: string | undefined;
      const c = t[i];
      if (c === "'" || c === '"') {
        const end = this.skipString(i);
        key = JSON.parse(c === '"' ? t.slice(i, end) : `"${t.slice(i + 1, end - 1).replace(/\\'/g, "'").replace(/"/g, '\\"')}"`);
        i = end;
      } else {
        const m = /^[A-Za-z_$][\w$]*|^\d+/.exec(t.slice(i, close));
        if (m) {
          key = m[0];
          i += m[0].length;
        }
      }
      const afterKey = this.skipTrivia(i);
      let valueStart: number;
      if (key !== undefined && t[afterKey] === ':') valueStart = this.skipTrivia(afterKey + 1);
      else {
        key = undefined; // spread, shorthand, method or computed key: opaque
        valueStart = start;
      }
      const valueEnd = this.valueEnd(valueStart, close);
      let end = this.skipTrivia(valueEnd);
      if (t[end] === ',') end++;
      out.push({ key, start, valueStart, valueEnd, end });
      i = end;
      if (i <= start) break;
    }
    return out;
  }

  /** End (exclusive, trailing whitespace trimmed) of the value starting at i. */
  private valueEnd(i: number, limit: number): number {
    const t = this.text;
    let j = i;
    let lastSignificant = i;
    while (j < limit) {
      const c = t[j];
      if (c === ',') break;
      if (c === '/' && (t[j + 1] === '/' || t[j + 1] === '*')) {
        j = this.skipTrivia(j);
        continue;
      }
      if (c === "'" || c === '"' || c === '`') j = this.skipString(j);
      else if (c === '{' || c === '[' || c === '(') j = this.matching(j) + 1;
      else if (/\s/.test(c)) {
        j++;
        continue;
      } else j++;
      lastSignificant = j;
    }
    return lastSignificant;
  }

  private skipTrivia(i: number): number {
    const t = this.text;
    while (i < t.length) {
      if (/\s/.test(t[i])) i++;
      else if (t.startsWith('//', i)) i = t.indexOf('\n', i) < 0 ? t.length : t.indexOf('\n', i);
      else if (t.startsWith('/*', i)) i = t.indexOf('*/', i + 2) < 0 ? t.length : t.indexOf('*/', i + 2) + 2;
      else break;
    }
    return i;
  }

  /** Index just after the string literal starting at i. */
  private skipString(i: number): number {
    const t = this.text;
    const q = t[i];
    let j = i + 1;
    while (j < t.length) {
      if (t[j] === '\\') j += 2;
      else if (t[j] === q) return j + 1;
      else if (q === '`' && t.startsWith('${', j)) j = this.matching(j + 1) + 1;
      else j++;
    }
    throw new Error('unterminated string in the dataset file');
  }

  /** Index of the bracket matching the one at i. */
  private matching(i: number): number {
    const t = this.text;
    const open = t[i];
    const closeCh = ({ '{': '}', '[': ']', '(': ')' } as Record<string, string>)[open];
    if (!closeCh) throw new Error(`internal: no bracket at ${i}`);
    let j = i + 1;
    while (j < t.length) {
      const c = t[j];
      if (c === closeCh) return j;
      if (c === "'" || c === '"' || c === '`') j = this.skipString(j);
      else if (c === '/' && (t[j + 1] === '/' || t[j + 1] === '*')) j = this.skipTrivia(j);
      else if (c === '{' || c === '[' || c === '(') j = this.matching(j) + 1;
      else j++;
    }
    throw new Error('unbalanced brackets in the dataset file');
  }
}

interface Prop {
  /** undefined for spreads and other entries the editor does not interpret. */
  key?: string;
  start: number;
  valueStart: number;
  valueEnd: number;
  /** After the separating comma. */
  end: number;
}

function propKey(k: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(k) ? k : tsString(k);
}

function nest(rest: string[], value: string): string {
  return rest.length ? `{ ${propKey(rest[0])}: ${nest(rest.slice(1), value)} }` : value;
}

function lineIndent(t: string, at: number): string {
  const start = t.lastIndexOf('\n', at - 1) + 1;
  return /^[ \t]*/.exec(t.slice(start))![0];
}
