import { CommandError } from '../cli/command.ts';
import type { StageOptions } from './main.ts';

export async function setupBucketStage(_opts: StageOptions): Promise<void> {
  throw new CommandError('this stage is not implemented yet');
}
