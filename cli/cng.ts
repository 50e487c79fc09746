import { dispatch, type Command } from './command.ts';
import { diffCommand } from './diff.ts';
import { docsCommand, todoCommand } from './docs.ts';
import { inspectCommand } from './inspect.ts';
import { previewCommand } from './preview.ts';
import { localCommand, runCommand } from './run.ts';
import { sampleCommand } from './sample.ts';
import { doctorCommand, statusCommand } from './status.ts';
import { synthCommand, validateCommand } from './synth.ts';
import { workerCommand } from '../worker/main.ts';

export const commands: Command[] = [
  synthCommand, validateCommand, diffCommand, inspectCommand, statusCommand, doctorCommand, docsCommand, todoCommand, sampleCommand, runCommand, localCommand, previewCommand, workerCommand,
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
