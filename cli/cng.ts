import { dispatch, type Command } from '../worker/core/command.ts';
import { diffCommand } from './manifests/diff.ts';
import { docsCommand, todoCommand } from './manifests/docs.ts';
import { inspectCommand } from './local/inspect.ts';
import { previewCommand } from './preview/preview.ts';
import { localCommand, runCommand } from './local/run.ts';
import { sampleCommand } from './local/sample.ts';
import { sqlCommand } from './local/sql.ts';
import { doctorCommand } from './cluster/doctor.ts';
import { preflightCommand } from './cluster/preflight.ts';
import { statusCommand } from './cluster/status.ts';
import { imageTagCommand, synthCommand, validateCommand } from './manifests/synth.ts';
import { workerCommand } from '../worker/main.ts';

export const commands: Command[] = [
  synthCommand, validateCommand, diffCommand, inspectCommand, statusCommand, doctorCommand, preflightCommand, docsCommand, todoCommand, imageTagCommand, sampleCommand, runCommand, localCommand, sqlCommand, previewCommand, workerCommand,
];

/** `cng`: the dataset factory's command line. Returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  return dispatch(
    'cng',
    'cng — the lab\'s dataset factory: dataset files → Kubernetes Jobs (via Flux) → cloud-native products in S3.',
    commands,
    argv,
  );
}
