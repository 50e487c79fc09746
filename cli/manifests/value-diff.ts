/**
 * Field-level differences between two JSON values (two versions of a manifest object), and the
 * order-insensitive equality they rest on. Pure.
 */

/** One field that differs, addressed by a JSON path such as `spec.template.spec.containers[0].resources.limits.memory`. */
export interface FieldChange {
  path: string;
  /** Value on the base side; absent when the field was added. */
  old?: unknown;
  /** Value on the head side; absent when the field was removed. */
  new?: unknown;
}

type Obj = Record<string, any>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A JSON scalar (string, number, boolean, null). */
export const isScalar = (v: unknown) => v === null || (typeof v !== 'object' && typeof v !== 'function');

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObj(v)) return `{${Object.keys(v).filter((k) => v[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return v === undefined ? 'undefined' : JSON.stringify(v);
}

/** Equal as JSON, whatever the order of object keys. */
export function deepEqual(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function keyPath(path: string, key: string): string {
  const k = /^[A-Za-z_$][\w$-]*$/.test(key) ? key : `[${JSON.stringify(key)}]`;
  return !path ? k : k.startsWith('[') ? `${path}${k}` : `${path}.${k}`;
}

/**
 * Field-level differences between two JSON values. Objects recurse by key; arrays of scalars (a
 * command line) and lists of `{name}` (dependsOn) are one change; lists of named objects (env,
 * containers) are matched by name when their order or membership changed, else by index.
 */
export function diffValues(a: unknown, b: unknown, path = ''): FieldChange[] {
  const out: FieldChange[] = [];
  walk(a, b, path, out);
  return out;
}

function walk(a: unknown, b: unknown, path: string, out: FieldChange[]): void {
  if (deepEqual(a, b)) return;
  const change = (): void => {
    out.push({ path: path || '(root)', ...(a === undefined ? {} : { old: a }), ...(b === undefined ? {} : { new: b }) });
  };
  if (isObj(a) && isObj(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) walk(a[k], b[k], keyPath(path, k), out);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const nameOnly = (xs: unknown[]) => xs.every((x) => isObj(x) && Object.keys(x).length === 1 && typeof x.name === 'string');
    if (a.every(isScalar) && b.every(isScalar)) return change();
    if (nameOnly(a) && nameOnly(b)) {
      out.push({ path, old: a.map((x: any) => x.name), new: b.map((x: any) => x.name) });
      return;
    }
    const names = (xs: unknown[]) => (xs.every((x) => isObj(x) && typeof x.name === 'string') ? xs.map((x: any) => x.name as string) : undefined);
    const an = names(a);
    const bn = names(b);
    if (an && bn && new Set(an).size === an.length && new Set(bn).size === bn.length && an.join('\u0000') !== bn.join('\u0000')) {
      for (const n of [...new Set([...an, ...bn])]) walk(a[an.indexOf(n)], b[bn.indexOf(n)], `${path}[name=${n}]`, out);
      return;
    }
    for (let i = 0; i < Math.max(a.length, b.length); i++) walk(a[i], b[i], `${path}[${i}]`, out);
    return;
  }
  change();
}
