import { rasterSet, type DatasetSpec } from '../constructs/index.ts';

/** A Zenodo zip of record 17645053 holding one GeoTIFF, read in place (braces: the URL has a query string). */
const zenodo = (file: string) => `/vsizip/{/vsicurl/https://zenodo.org/records/17645053/files/${file}.zip?download=1}`;

/**
 * Irrecoverable, vulnerable and manageable carbon v2 (Conservation International; Zenodo 17645053):
 * 11 zips, one total-carbon GeoTIFF each at 300 m — irrecoverable 2010, 2018, 2022, 2023, 2024;
 * vulnerable and manageable 2010, 2018, 2024. The zip names and numbers are those of the lab's
 * `catalog/carbon/k8s/v2/preprocess-cogs.yaml` (01 is the one without `300m`). Each raster → COG +
 * res-8 UBIGINT hex, column `carbon`, under `v2/` (`v2/cog/<name>.tif`, `v2/hex/<name>/`; the
 * earlier run wrote `v2/cogs/<name>.tif` and moved the STRING hex of each `<type>-carbon-<year>`
 * dataset under `v2/` by hand). Band 1 only: the earlier COG job retried with `-b 1`.
 *
 * Irrecoverable 2010 cannot be opened (a corrupt overview IFD: `TIFFReadDirectory:Failed to read
 * directory at offset 2448179594`, `k8s/v2/irrecoverable-2010-gdal-bug.md`): declared `skip`, so it
 * has no stages and the docs say why. Beside `carbon` (v1 under `v1/`), in the same bucket: its own
 * dataset since one dataset has one prefix; no prose (one documented dataset per bucket, `carbon`).
 */
export const carbonV2: DatasetSpec = {
  name: 'carbon-v2',
  title: 'Irrecoverable, vulnerable and manageable carbon v2',
  run: 1,
  bucket: 'public-carbon',
  prefix: 'v2',
  layout: 'formats',
  maxPods: 40,
  rasters: rasterSet(
    {
      irrecoverable_c_total_2024: { source: zenodo('01_Irrecoverable_Carbon_Total_v1a_2024') },
      vulnerable_c_total_2024: { source: zenodo('02_Vulnerable_Carbon_Total_v1a_300m_2024') },
      manageable_c_total_2024: { source: zenodo('03_Manageable_Carbon_Total_v1a_300m_2024') },
      irrecoverable_c_total_2023: { source: zenodo('04_Irrecoverable_Carbon_Total_v1a_300m_2023') },
      irrecoverable_c_total_2022: { source: zenodo('05_Irrecoverable_Carbon_Total_v1a_300m_2022') },
      irrecoverable_c_total_2018: { source: zenodo('06_Irrecoverable_Carbon_Total_v1a_300m_2018') },
      vulnerable_c_total_2018: { source: zenodo('07_Vulnerable_Carbon_Total_v1a_300m_2018') },
      manageable_c_total_2018: { source: zenodo('08_Manageable_Carbon_Total_v1a_300m_2018') },
      irrecoverable_c_total_2010: {
        source: zenodo('09_Irrecoverable_Carbon_Total_v1a_300m_2010'),
        skip: 'corrupt TIFF IFD in the Zenodo file (an overview directory at offset 2448179594); GDAL/libtiff cannot open it (see the catalogue, k8s/v2/irrecoverable-2010-gdal-bug.md)',
      },
      vulnerable_c_total_2010: { source: zenodo('10_Vulnerable_Carbon_Total_v1a_300m_2010') },
      manageable_c_total_2010: { source: zenodo('11_Manageable_Carbon_Total_v1a_300m_2010') },
    },
    // Mg C per hectare (a density): area-weighted mean per cell. Integer per the README, Float per the
    // STAC, nodata as the file declares: confirm type and nodata with `cng inspect` on one zip.
    { name: '{name}', valueKind: 'continuous', valueColumn: 'carbon', bands: [1], hex: { resolution: 8 } },
  ),
};
