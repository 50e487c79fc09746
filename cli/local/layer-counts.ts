import { configureGdalS3 } from '../../worker/io/gdal.ts';
import { Storage } from '../../worker/io/storage.ts';
import { findLayer, openSource } from '../../worker/vector/gdal-pass.ts';
import type { RunStage } from './runner.ts';

/**
 * The local runner checks each convert against GDAL's own count of the layer, read separately
 * before the run (as `ogrinfo -so` does), instead of the dataset file's declared `features`,
 * which a local sample does not match: each convert Job's `--expected-features` is replaced by
 * that count. A source that cannot be read here keeps the declared count; convert then reports
 * the failure itself. `env` is the worker processes' environment (the local target).
 */
export async function useIndependentCounts(stages: readonly RunStage[], env: NodeJS.ProcessEnv): Promise<void> {
  configureGdalS3(env);
  const storage = new Storage(env);
  for (const stage of stages)
    for (const job of stage.jobs) {
      const args = job.spec?.template?.spec?.containers?.[0]?.command as string[] | undefined;
      const value = (flag: string) => (args && args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
      const source = value('--source');
      const layer = value('--layer');
      if (!args?.includes('--expected-features') || source === undefined || layer === undefined) continue;
      const count = await countFeatures(source, layer, storage);
      if (count !== undefined) args[args.indexOf('--expected-features') + 1] = String(count);
    }
}

/** GDAL's feature count of `layer` (forced: counted by reading when the format keeps none), or undefined. */
async function countFeatures(source: string, layer: string, storage: Storage): Promise<number | undefined> {
  try {
    const ds = await openSource(source, storage);
    try {
      return await (await findLayer(ds, layer, source)).features.countAsync(true);
    } finally {
      ds.close();
    }
  } catch {
    return undefined;
  }
}
