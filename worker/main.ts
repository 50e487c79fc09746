import { dispatch, type Command } from './core/command.ts';
import { docsStageDef, fetchStageDef, pointsPublishStageDef, publishStageDef, setupBucketStageDef, syncStageDef } from './publish/stages.ts';
import { RASTER_STAGES } from './raster/stages.ts';
import { VECTOR_STAGES } from './vector/stages.ts';
import { POINTS_STAGES } from './vector/points-stages.ts';

/**
 * `cng-worker <stage> [options]`: the program every Job container runs, and that the local runner
 * runs the same way. Inputs and outputs are `s3://bucket/key` URLs (endpoint from
 * AWS_ENDPOINT_URL_S3) or local paths. Indexed stages read their work unit from
 * JOB_COMPLETION_INDEX + CNG_INDEX_OFFSET (or --index). The stages declare their options next to
 * their modules (vector/, raster/, publish/ stages.ts).
 */

/** The fixed command line of every stage: what constructs/ writes into the Jobs. */
export const STAGES = [setupBucketStageDef, fetchStageDef, ...VECTOR_STAGES, publishStageDef, ...RASTER_STAGES, ...POINTS_STAGES, pointsPublishStageDef, docsStageDef, syncStageDef];

export const workerStages: Command[] = STAGES.map((s) => s.command);

const INTRO = 'cng-worker — the program inside every Job container (and the local runner): one stage per call.';

/** `cng-worker <stage> [options]`. Returns the exit code. */
export function workerMain(argv: string[], prog = 'cng-worker'): Promise<number> {
  return dispatch(prog, INTRO, workerStages, argv);
}

/** `cng worker <stage> ...`: the same worker, reachable from the main CLI. */
export const workerCommand: Command = {
  name: 'worker',
  summary: 'run one worker stage, as a Job container does (cng worker --help)',
  help: INTRO,
  options: {},
  passthrough: true,
  run: ({ positionals }) => workerMain(positionals, 'cng worker'),
};
