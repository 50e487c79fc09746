// Synth entry (cdk8s.yaml `app`): every dataset in datasets/ → dist/.
import { resolve } from 'node:path';
import { renderManifests, synthesize, writeDist } from './constructs/index.ts';
import { datasets } from './datasets/index.ts';

const outdir = resolve(process.argv[2] ?? 'dist');
const files = renderManifests(synthesize(datasets).manifests);
writeDist(files, outdir);
console.log(`wrote ${files.size} manifest files to ${outdir}`);
