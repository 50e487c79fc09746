import type { DatasetSpec } from '../constructs/index.ts';
import { cpad2025b } from './cpad-2025b.ts';
import { padus41 } from './padus-4-1.ts';

/** Every dataset the repository synthesizes. Add a new dataset file here. */
export const datasets: DatasetSpec[] = [padus41, cpad2025b];
