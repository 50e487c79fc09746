import { configureGdalS3 } from '../../worker/io/gdal.ts';
import { Storage } from '../../worker/io/storage.ts';
import { findLayer, openSource } from '../../worker/vector/gdal-pass.ts';
import { jobArg, targetEnv, type RunStage } from './runner.ts';

/**
 * `cng run` checks each convert against GDAL's own count of the layer, read separately before
 * the run (as `ogrinfo -so` does), instead of the dataset file's declared `features`, which a
 * local sample does not match: each convert Job's `--expected-features` is replaced by that
 * count. A source that cannot be read here keeps the declared count; convert then reports the
 * failure itself.
 */
export async function useIndependentCounts(stages: RunStage[], target: { storeDir: string; s3Endpoint?: string }): Promise<void> {
  const env = targetEnv(target);
  configureGdalS3(env);
  const storage = new Storage(env);
  for (const stage of stages)
    for (const job of stage.jobs) {
      const args = job.spec?.template?.spec?.containers?.[0]?.command as string[] | undefined;
      const at = args?.indexOf('--expected-features') ?? -1;
      const source = jobArg(job, '--source');
      const layer = jobArg(job, '--layer');
      if (!args || at < 0 || source === undefined || layer === undefined) continue;
      const count = await countFeatures(source, layer, storage);
      if (count !== undefined) args[at + 1] = String(count);
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
