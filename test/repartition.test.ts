import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { cellToParent, latLngToCell } from 'h3-js';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { repartitionStage } from '../worker/vector/repartition.ts';
import { publishStage } from '../worker/publish/layer.ts';
import { runHex } from '../worker/vector/hex.ts';
import { buildHexPlan, groupH0Cells, h0Name } from '../worker/vector/plan.ts';

/**
 * Repartition (an Indexed Job over groups of h0 cells) and publish (checks, then copies into
 * place, manifest.json last) on real parts: chunks and GeoParquet written with DuckDB, the stages
 * run in-process, everything read back.
 */

const u64 = (h: string) => BigInt('0x' + h);
const yos = [latLngToCell(37.74, -119.59, 10), latLngToCell(37.75, -119.58, 10), latLngToCell(37.76, -119.57, 10)];
const ak = latLngToCell(61.2, -149.9, 10);
const h0Of = (h: string) => h0Name(cellToParent(h, 0));

/**
 * A run's work directory: a GeoParquet of 3 features (fid 2 has a null geometry), a plan of 2 hex
 * units and `units` repartition units, and the hex units' chunks (by h0 cell) and reports: fid 1 has
 * 3 cells near Yosemite, fid 3 one cell in Alaska, in both hex units.
 */
async function fixture(work: string, o: { units?: number; dropFid3?: boolean; skipHexUnit1?: boolean; droppedParts?: object } = {}) {
  const c = await (await DuckDBInstance.create(':memory:')).connect();
  mkdirSync(work, { recursive: true });
  const pt = "from_hex('0101000000000000000000F03F0000000000000040')";
  const box = "{'xmin':1.0::DOUBLE,'ymin':2.0::DOUBLE,'xmax':1.0::DOUBLE,'ymax':2.0::DOUBLE}";
  await c.run(`COPY (SELECT * FROM (VALUES
      (1::BIGINT, 'Yosemite', 3000::INTEGER, ST_GeomFromWKB(${pt}), ${box}),
      (2::BIGINT, 'No shape', 10::INTEGER, NULL, NULL),
      (3::BIGINT, 'Tiny', 1::INTEGER, ST_GeomFromWKB(${pt}), ${box})
    ) t(_cng_fid, Unit_Nm, GIS_Acres, geometry, bbox)) TO '${work}/fee.parquet' (FORMAT parquet)`);
  const row = (fid: number, h: string) => `(${fid}::BIGINT, ${u64(h)}::UBIGINT, ${u64(cellToParent(h, 9))}::UBIGINT, ${u64(cellToParent(h, 8))}::UBIGINT, ${u64(cellToParent(h, 0))}::UBIGINT)`;
  const unit = async (i: number, cells: [number, string][]) => {
    const h0: Record<string, number> = {};
    for (const [, h] of cells) h0[h0Of(h)] = (h0[h0Of(h)] ?? 0) + 1;
    for (const cell of Object.keys(h0)) {
      mkdirSync(`${work}/chunks/h0=${cell}`, { recursive: true });
      const rows = cells.filter(([, h]) => h0Of(h) === cell).map(([f, h]) => row(f, h));
      await c.run(`COPY (SELECT * FROM (VALUES ${rows.join(',')}) t(_cng_fid, h10, h9, h8, h0)) TO '${work}/chunks/h0=${cell}/unit-00000${i}.parquet' (FORMAT parquet)`);
    }
    mkdirSync(`${work}/chunks/_units`, { recursive: true });
    writeFileSync(`${work}/chunks/_units/unit-00000${i}.json`, JSON.stringify({ version: 1, index: i, features: 2, cells: cells.length, h0 }));
  };
  await unit(0, [...yos.map((h) => [1, h] as [number, string]), ...(o.dropFid3 ? [] : [[3, ak] as [number, string]])]);
  if (!o.skipHexUnit1) await unit(1, o.dropFid3 ? [] : [[3, ak], [1, yos[0]]]);
  // h0 estimates as convert makes them: the groups put Yosemite's and Alaska's h0 cells apart.
  const estimates = new Map([[h0Of(yos[0]), 3], [h0Of(ak), 1]]);
  const repartition = groupH0Cells(estimates, o.units ?? 1);
  writeFileSync(`${work}/hex-plan.json`, JSON.stringify({
    version: 1, layer: 'PADUS4_1Fee', idColumn: '_cng_fid', resolution: 10, units: 2, features: 3, nullGeometries: 1,
    ...(o.droppedParts ? { droppedParts: o.droppedParts } : {}), workUnits: [], repartition,
  }));
  c.closeSync();
  return repartition;
}

/** Paths of one layer `fee` of a dataset directory: the run's work directory and the products. */
const layout = (root: string) => ({ root, work: `${root}/fee/_work/run-1`, hex: `${root}/fee/hex`, manifest: `${root}/fee/manifest.json` });

const reads = (w: string) => ({ input: `${w}/fee.parquet`, plan: `${w}/hex-plan.json`, chunks: `${w}/chunks`, resolution: '10', parents: '9,8' });
const repartition = (w: string, index: number) => repartitionStage({ ...reads(w), out: `${w}/hex`, reports: `${w}/repartition`, index: String(index) });
const publish = (l: ReturnType<typeof layout>, extra: Record<string, string> = {}) =>
  publishStage({
    ...reads(l.work), 'staged-hex': `${l.work}/hex`, reports: `${l.work}/repartition`, run: '1', containment: 'center', work: l.work,
    out: `${l.root}/fee.parquet`, 'out-hex': l.hex, manifest: l.manifest, ...extra,
  });

/** sha256 of every file under a directory, by relative path. */
function checksums(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

async function runAll(l: ReturnType<typeof layout>, units: number) {
  for (let i = 0; i < units; i++) await repartition(l.work, i);
  return publish(l);
}

describe('repartition units and publish', () => {
  let l: ReturnType<typeof layout>;
  beforeEach(() => {
    l = layout(mkdtempSync(join(tmpdir(), 'cng-repart-')));
  });

  it('writes h0 partitions with attributes joined, deduplicated and sorted; publish puts them in place with a manifest and removes the work files', async () => {
    await fixture(l.work);
    const report = await repartition(l.work, 0);
    expect(report).toMatchObject({ index: 0, features: 2, cells: 4 });
    const manifest = await publish(l);
    const parts = readdirSync(l.hex).sort();
    expect(parts).toEqual([...new Set([h0Of(yos[0]), h0Of(ak)])].map((h) => `h0=${h}`).sort());
    for (const p of parts) expect(readdirSync(`${l.hex}/${p}`)).toEqual(['data_0.parquet']);

    const db = await (await DuckDBInstance.create(':memory:')).connect();
    const rows = (await db.runAndReadAll(`SELECT _cng_fid, Unit_Nm, GIS_Acres, h10, h9, h8, h0 FROM read_parquet('${l.hex}/*/*.parquet', hive_partitioning=true, hive_types={'h0': UBIGINT}) ORDER BY _cng_fid, h10`)).getRows();
    expect(rows.map((x) => [x[0], x[1]])).toEqual([[1n, 'Yosemite'], [1n, 'Yosemite'], [1n, 'Yosemite'], [3n, 'Tiny']]); // duplicates across chunks removed
    expect(rows.filter((x) => x[0] === 1n).map((x) => x[3]).sort()).toEqual(yos.map(u64).sort());
    for (const x of rows) {
      const h = (x[3] as bigint).toString(16);
      expect([x[4], x[6]]).toEqual([u64(cellToParent(h, 9)), u64(cellToParent(h, 0))]);
    }
    const types = (await db.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${l.hex}/*/*.parquet')`)).getRows();
    expect(Object.fromEntries(types.map((t) => [t[0], t[1]]))).toMatchObject({ h10: 'UBIGINT', h9: 'UBIGINT', h8: 'UBIGINT', GIS_Acres: 'INTEGER' });
    const sorted = (await db.runAndReadAll(`SELECT h10 FROM read_parquet('${l.hex}/${parts[0]}/data_0.parquet')`)).getRows().map((x) => x[0] as bigint);
    expect(sorted).toEqual([...sorted].sort((a, b) => (a < b ? -1 : 1)));

    expect(manifest).toMatchObject({ version: 1, layer: 'fee', source_layer: 'PADUS4_1Fee', run: 1, resolution: 10, parents: [9, 8], containment: 'center', features: 3, null_geometries: 1, features_hexed: 2, cells: 4, partitions: parts.length });
    expect(JSON.parse(readFileSync(l.manifest, 'utf8'))).toEqual(manifest);
    const sums = checksums(l.root);
    expect(Object.keys(manifest.files!).sort()).toEqual(Object.keys(sums).filter((k) => k !== 'fee/manifest.json').sort());
    for (const [k, f] of Object.entries(manifest.files!)) expect(f.sha256, k).toBe(sums[k]);
    expect(manifest.bytes).toBe(parts.reduce((n, p) => n + manifest.files![`fee/hex/${p}/data_0.parquet`].bytes, 0));
    expect(existsSync(l.work)).toBe(false);
  });

  it('splits the work by h0 groups: each unit writes only its h0 cells, and the products are the same bytes as with one unit', async () => {
    const groups = await fixture(l.work, { units: 2 });
    const owner = (h: string) => groups.groups.findIndex((g) => g.h0.includes(h0Of(h)));
    expect(owner(yos[0])).not.toBe(owner(ak));
    expect(Object.keys((await repartition(l.work, owner(ak))).partitions)).toEqual([h0Of(ak)]);
    expect(readdirSync(`${l.work}/hex`)).toEqual([`h0=${h0Of(ak)}`]);
    await repartition(l.work, owner(yos[0]));
    await publish(l);
    const one = layout(mkdtempSync(join(tmpdir(), 'cng-repart-')));
    await fixture(one.work, { units: 1 });
    await runAll(one, 1);
    const [a, b] = [checksums(l.root), checksums(one.root)];
    delete a['fee/manifest.json'];
    delete b['fee/manifest.json'];
    expect(a).toEqual(b);
  });

  it('is deterministic: the same input twice gives the same bytes for every product, manifest included', async () => {
    await fixture(l.work, { units: 2 });
    await runAll(l, 2);
    const again = layout(mkdtempSync(join(tmpdir(), 'cng-repart-')));
    await fixture(again.work, { units: 2 });
    await runAll(again, 2);
    expect(checksums(again.root)).toEqual(checksums(l.root));
  });

  it("carries convert's dropped parts (other dimension) into manifest.json, and nothing when none were dropped", async () => {
    await fixture(l.work, { droppedParts: { features: 1, parts: 2, ids: [3] } });
    expect((await runAll(l, 1)).dropped_parts).toEqual({ features: 1, parts: 2, ids: [3] });
    const clean = layout(mkdtempSync(join(tmpdir(), 'cng-repart-')));
    await fixture(clean.work);
    expect(await runAll(clean, 1)).not.toHaveProperty('dropped_parts');
  });

  it('a repartition unit fails naming the hex units that have not reported, writing nothing', async () => {
    await fixture(l.work, { skipHexUnit1: true });
    await expect(repartition(l.work, 0)).rejects.toThrow(/1 of 2 hex work units have not finished .*: 1; re-run those hex indices/);
    expect(existsSync(`${l.work}/hex`) || existsSync(`${l.work}/repartition`)).toBe(false);
  });

  it('publish fails listing features that got no cell, and leaves the published layer as it was', async () => {
    await fixture(l.work);
    await runAll(l, 1);
    const before = checksums(l.root);
    await fixture(l.work, { dropFid3: true });
    await repartition(l.work, 0);
    await expect(publish(l)).rejects.toThrow(/^layer 'fee': 1 feature\(s\) with a geometry have no H3 cell \(_cng_fid: 3\); nothing was published$/);
    const after = checksums(l.root);
    for (const k of Object.keys(after)) if (k.startsWith('fee/_work/')) delete after[k];
    expect(after).toEqual(before);
  });

  it('publish failing mid-way (a repartition unit missing) changes nothing published', async () => {
    await fixture(l.work, { units: 2 });
    await runAll(l, 2);
    const before = checksums(l.root);
    await fixture(l.work, { units: 2 });
    await repartition(l.work, 0);
    await expect(publish(l)).rejects.toThrow(/^layer 'fee': 1 of 2 repartition units have not finished .*: 1; re-run those repartition indices; nothing was published$/);
    const after = checksums(l.root);
    for (const k of Object.keys(after)) if (k.startsWith('fee/_work/')) delete after[k];
    expect(after).toEqual(before);
  });

  it('publish removes the published partitions this run did not write, logging each', async () => {
    await fixture(l.work);
    mkdirSync(`${l.hex}/h0=1234`, { recursive: true });
    writeFileSync(`${l.hex}/h0=1234/data_0.parquet`, 'stale');
    const lines: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s) => (lines.push(String(s)), true));
    try {
      await runAll(l, 1);
    } finally {
      spy.mockRestore();
    }
    expect(readdirSync(l.hex)).not.toContain('h0=1234');
    expect(lines.join('')).toMatch(/removed h0=1234 from '.*fee\/hex' \(1 file\): an earlier run's partition this run did not write/);
  });

  it('publish is safe to run twice: once the work files are gone, a manifest of this run means done', async () => {
    await fixture(l.work);
    const first = await runAll(l, 1);
    const before = checksums(l.root);
    expect(await publish(l)).toEqual(first);
    expect(checksums(l.root)).toEqual(before);
    await expect(publish(l, { run: '2' })).rejects.toThrow(/^layer 'fee': .*hex-plan\.json.*; nothing was published$/);
  });

  it('refuses a plan made for another resolution', async () => {
    await fixture(l.work);
    await expect(repartitionStage({ ...reads(l.work), resolution: '9', out: `${l.work}/hex`, reports: `${l.work}/repartition`, index: '0' })).rejects.toThrow(/plan .* is for resolution 10, but --resolution is 9/);
  });

  it('an empty layer (0 features) gives valid empty products: no partition, a manifest saying 0', async () => {
    const c = await (await DuckDBInstance.create(':memory:')).connect();
    mkdirSync(l.work, { recursive: true });
    await c.run(`COPY (SELECT 1::BIGINT AS _cng_fid, 'x' AS Unit_Nm, ST_GeomFromWKB(from_hex('0101000000000000000000F03F0000000000000040')) AS geometry, {'xmin':1.0::DOUBLE,'ymin':2.0::DOUBLE,'xmax':1.0::DOUBLE,'ymax':2.0::DOUBLE} AS bbox WHERE false) TO '${l.work}/fee.parquet' (FORMAT parquet)`);
    c.closeSync();
    const plan = buildHexPlan({ layer: 'Empty', idColumn: '_cng_fid', resolution: 10, units: 1, featureCount: 0, nullGeometries: 0, features: [], repartitionUnits: 2 });
    writeFileSync(`${l.work}/hex-plan.json`, JSON.stringify(plan));
    await runHex({ ...reads(l.work), index: '0' });
    const manifest = await runAll(l, 2);
    expect(manifest).toMatchObject({ features: 0, null_geometries: 0, features_hexed: 0, cells: 0, partitions: 0, bytes: 0, files: { 'fee.parquet': {} } });
    expect(existsSync(l.hex)).toBe(false);
    expect(existsSync(`${l.root}/fee.parquet`)).toBe(true);
    rmSync(l.root, { recursive: true, force: true });
  });
});
