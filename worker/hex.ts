import { CommandError } from '../cli/command.ts';
import type { StageOptions } from './main.ts';

export async function hexStage(_opts: StageOptions): Promise<void> {
  throw new CommandError('this stage is not implemented yet');
}
