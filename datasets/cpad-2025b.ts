import type { DatasetSpec } from '../constructs/index.ts';
import { cpad2025bProse } from './cpad-2025b.prose.ts';

/**
 * CPAD 2025b — California Protected Areas Database (holdings, units) and the California
 * Conservation Easement Database, in the CPAD bucket layout: `<product>-<release>-<layer>` at the
 * bucket root. The gold-standard layout the lab's other vector products follow.
 */
export const cpad2025b: DatasetSpec = {
  name: 'cpad-2025b',
  title: 'CPAD 2025b and CCED 2025b',
  run: 1,
  source: 's3://public-cpad/raw/CPAD_2025b.gdb',
  bucket: 'public-cpad',
  hex: { resolution: 10, parents: [9, 8] },
  maxPods: 60,
  layers: {
    holdings: { layer: 'CPAD_2025b_Holdings', name: 'cpad-2025b-holdings', features: 17_463 },
    units: { layer: 'CPAD_2025b_Units', name: 'cpad-2025b-units', features: 12_873 },
    cced: { layer: 'CCED_2025b', name: 'cced-2025b', source: 's3://public-cpad/raw/CCED_2025b.gdb', features: 3_240 },
  },
  mirror: { bucket: 'cboettig', prefix: 'cpad' },
  prose: cpad2025bProse,
};
