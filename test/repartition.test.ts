import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { cellToParent, latLngToCell } from 'h3-js';
import { beforeEach, describe, expect, it } from 'vitest';
import { repartitionStage } from '../worker/vector/repartition.ts';

const u64 = (h: string) => BigInt('0x' + h);

/** A GeoParquet of 3 features (fid 2 has a null geometry) and two chunks with real H3 cells. */
async function fixture(dir: string, opts: { dropFid3?: boolean; skipChunk1?: boolean; droppedParts?: object } = {}) {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  const pt = 'from_hex(\'0101000000000000000000F03F0000000000000040\')';
  await c.run(`COPY (SELECT * FROM (VALUES
      (1::BIGINT, 'Yosemite', 3000::INTEGER, ST_GeomFromWKB(${pt}), {'xmin':1.0::DOUBLE,'ymin':2.0::DOUBLE,'xmax':1.0::DOUBLE,'ymax':2.0::DOUBLE}),
      (2::BIGINT, 'No shape', 10::INTEGER, NULL, NULL),
      (3::BIGINT, 'Tiny', 1::INTEGER, ST_GeomFromWKB(${pt}), {'xmin':1.0::DOUBLE,'ymin':2.0::DOUBLE,'xmax':1.0::DOUBLE,'ymax':2.0::DOUBLE})
    ) t(_cng_fid, Unit_Nm, GIS_Acres, geometry, bbox)) TO '${dir}/layer.parquet' (FORMAT parquet)`);
  // fid 1: 3 cells near Yosemite, fid 3: 1 cell in Alaska, duplicated across both chunks.
  const yos = [latLngToCell(37.74, -119.59, 10), latLngToCell(37.75, -119.58, 10), latLngToCell(37.76, -119.57, 10)];
  const ak = latLngToCell(61.2, -149.9, 10);
  const row = (fid: number, h: string) => `(${fid}::BIGINT, ${u64(h)}::UBIGINT, ${u64(cellToParent(h, 9))}::UBIGINT, ${u64(cellToParent(h, 8))}::UBIGINT, ${u64(cellToParent(h, 0))}::UBIGINT)`;
  const chunk = async (i: number, rows: string[]) => {
    mkdirSync(`${dir}/chunks`, { recursive: true });
    const values = rows.length ? `SELECT * FROM (VALUES ${rows.join(',')}) t(_cng_fid, h10, h9, h8, h0)` : 'SELECT 1::BIGINT _cng_fid, 1::UBIGINT h10, 1::UBIGINT h9, 1::UBIGINT h8, 1::UBIGINT h0 WHERE false';
    await c.run(`COPY (${values}) TO '${dir}/chunks/chunk-${String(i).padStart(6, '0')}.parquet' (FORMAT parquet)`);
  };
  await chunk(0, [...yos.map((h) => row(1, h)), ...(opts.dropFid3 ? [] : [row(3, ak)])]);
  if (!opts.skipChunk1) await chunk(1, opts.dropFid3 ? [] : [row(3, ak), row(1, yos[0])]);
  writeFileSync(`${dir}/plan.json`, JSON.stringify({ version: 1, layer: 'PADUS4_1Fee', resolution: 10, units: 2, features: 3, nullGeometries: 1, ...(opts.droppedParts ? { droppedParts: opts.droppedParts } : {}), workUnits: [] }));
  c.closeSync();
  return { yos, ak };
}

const opts = (dir: string) => ({
  input: `${dir}/layer.parquet`, plan: `${dir}/plan.json`, chunks: `${dir}/chunks`,
  resolution: '10', parents: '9,8', containment: 'center', out: `${dir}/fee/hex`, manifest: `${dir}/fee/manifest.json`,
});

describe('repartition', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cng-repart-'));
  });

  it('writes h0 partitions with attributes joined, deduplicated and sorted, a manifest, and removes the chunks', async () => {
    const { yos, ak } = await fixture(dir);
    await repartitionStage(opts(dir));
    const parts = readdirSync(`${dir}/fee/hex`).sort();
    expect(parts).toEqual([...new Set([cellToParent(yos[0], 0), cellToParent(ak, 0)])].map((h) => `h0=${u64(h)}`).sort());
    for (const p of parts) expect(readdirSync(`${dir}/fee/hex/${p}`)).toEqual(['data_0.parquet']);

    const db = await (await DuckDBInstance.create(':memory:')).connect();
    const r = await db.runAndReadAll(`SELECT _cng_fid, Unit_Nm, GIS_Acres, h10, h9, h8, h0 FROM read_parquet('${dir}/fee/hex/*/*.parquet', hive_partitioning=true, hive_types={'h0': UBIGINT}) ORDER BY _cng_fid, h10`);
    const rows = r.getRows();
    expect(rows.length).toBe(4); // duplicates across chunks removed
    expect(rows.map((x) => [x[0], x[1]])).toEqual([[1n, 'Yosemite'], [1n, 'Yosemite'], [1n, 'Yosemite'], [3n, 'Tiny']]);
    expect(rows.filter((x) => x[0] === 1n).map((x) => x[3]).sort()).toEqual(yos.map(u64).sort());
    for (const x of rows) {
      const h = (x[3] as bigint).toString(16);
      expect(x[4]).toBe(u64(cellToParent(h, 9)));
      expect(x[6]).toBe(u64(cellToParent(h, 0)));
    }
    const types = (await db.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${dir}/fee/hex/*/*.parquet')`)).getRows();
    expect(Object.fromEntries(types.map((t) => [t[0], t[1]]))).toMatchObject({ h10: 'UBIGINT', h9: 'UBIGINT', h8: 'UBIGINT', GIS_Acres: 'INTEGER' });
    const sorted = (await db.runAndReadAll(`SELECT h10 FROM read_parquet('${dir}/fee/hex/${parts[0]}/data_0.parquet')`)).getRows().map((x) => x[0] as bigint);
    expect(sorted).toEqual([...sorted].sort((a, b) => (a < b ? -1 : 1)));

    const manifest = JSON.parse(readFileSync(`${dir}/fee/manifest.json`, 'utf8'));
    expect(manifest).toMatchObject({ version: 1, layer: 'fee', source_layer: 'PADUS4_1Fee', resolution: 10, parents: [9, 8], containment: 'center', features: 3, null_geometries: 1, features_hexed: 2, cells: 4, partitions: parts.length });
    expect(manifest.bytes).toBeGreaterThan(0);
    expect(existsSync(`${dir}/chunks`)).toBe(false);
  });

  it("carries convert's dropped parts (other dimension) into manifest.json, and nothing when none were dropped", async () => {
    await fixture(dir, { droppedParts: { features: 1, parts: 2, ids: [3] } });
    await repartitionStage(opts(dir));
    expect(JSON.parse(readFileSync(`${dir}/fee/manifest.json`, 'utf8')).dropped_parts).toEqual({ features: 1, parts: 2, ids: [3] });
    const clean = mkdtempSync(join(tmpdir(), 'cng-repart-'));
    await fixture(clean);
    await repartitionStage(opts(clean));
    expect(JSON.parse(readFileSync(`${clean}/fee/manifest.json`, 'utf8'))).not.toHaveProperty('dropped_parts');
  });

  it('fails naming the missing work units, writing nothing', async () => {
    await fixture(dir, { skipChunk1: true });
    await expect(repartitionStage(opts(dir))).rejects.toThrow(/1 of 2 hex chunks missing .*work units 1; re-run those hex indices/);
    expect(existsSync(`${dir}/fee`)).toBe(false);
    expect(existsSync(`${dir}/chunks/chunk-000000.parquet`)).toBe(true);
  });

  it('fails listing features that got no cell, writing nothing and keeping the chunks', async () => {
    await fixture(dir, { dropFid3: true });
    await expect(repartitionStage(opts(dir))).rejects.toThrow(/1 feature\(s\) with a geometry have no H3 cell \(_cng_fid: 3\); nothing was written/);
    expect(existsSync(`${dir}/fee`)).toBe(false);
    expect(readdirSync(`${dir}/chunks`)).toHaveLength(2);
  });

  it('a re-run replaces the output and removes partitions it no longer writes', async () => {
    await fixture(dir);
    mkdirSync(`${dir}/fee/hex/h0=1234`, { recursive: true });
    writeFileSync(`${dir}/fee/hex/h0=1234/data_0.parquet`, 'stale');
    await repartitionStage(opts(dir));
    expect(readdirSync(`${dir}/fee/hex`)).not.toContain('h0=1234');
  });

  it('refuses a plan made for another resolution', async () => {
    await fixture(dir);
    await expect(repartitionStage({ ...opts(dir), resolution: '9' })).rejects.toThrow(/plan .* is for resolution 10, but --resolution is 9/);
  });
});
