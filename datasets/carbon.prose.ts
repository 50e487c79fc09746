import type { DatasetProse } from '../constructs/index.ts';

const KIND: Record<string, string> = {
  irrecoverable: 'Irrecoverable carbon: carbon that, if lost to a land-use change, could not be recovered by 2050',
  manageable: 'Manageable carbon: carbon whose loss humans can influence, on land where conversion is possible',
  vulnerable: 'Vulnerable carbon: carbon that would be released by a typical land conversion',
};
const POOL: Record<string, string> = { biomass: 'above- and below-ground biomass', soil: 'soil organic carbon (top 30 cm)', total: 'biomass and soil together' };

/** One prose entry per raster key of carbon.ts (`<kind>-c-<pool>-<year>`). */
const rasters: NonNullable<DatasetProse['rasters']> = {};
for (const kind of Object.keys(KIND))
  for (const pool of Object.keys(POOL))
    for (const year of [2010, 2018])
      rasters[`${kind}-c-${pool}-${year}`] = {
        title: `${kind[0].toUpperCase()}${kind.slice(1)} carbon, ${pool}, ${year}`,
        description: `${KIND[kind]}; ${POOL[pool]}, ${year}. Global, about 300 m.`,
        units: 'Mg C / ha (to confirm: the source README says "Mg C")',
      };

export const carbonProse: DatasetProse = {
  title: 'Irrecoverable, manageable and vulnerable carbon v1 (Conservation International)',
  description:
    "Conservation International's global maps of the carbon in ecosystems that humans could release (vulnerable), could influence " +
    '(manageable) and could not recover by mid-century if lost (irrecoverable), for biomass, soil and both, in 2010 and 2018 (Noon et al. 2022).\n\n' +
    'This collection republishes the 18 v1 rasters (Zenodo record 4091029) as Cloud-Optimized GeoTIFFs and H3 hexagons at resolution 8 ' +
    '(area-weighted mean per cell), under `v1/`.',
  license: 'CC-BY-4.0',
  licenseText: 'Published on Zenodo (record 4091029); CC-BY 4.0 as Zenodo lists it, to confirm before publishing.',
  licenseUrl: 'https://zenodo.org/records/4091029',
  citation: 'Noon, M.L., Goldstein, A., Ledezma, J.C. et al. (2022). Mapping the irrecoverable carbon in Earth\'s ecosystems. Nature Sustainability 5, 37–46.',
  doi: '10.1038/s41893-021-00803-6',
  providers: [{ name: 'Conservation International', roles: ['producer', 'licensor'], url: 'https://www.conservation.org/' }],
  keywords: ['carbon', 'irrecoverable carbon', 'biomass', 'soil carbon', 'climate', 'global', 'H3', 'COG'],
  temporal: ['2010-01-01T00:00:00Z', '2018-12-31T23:59:59Z'],
  links: [{ href: 'https://zenodo.org/records/4091029', title: 'Zenodo 4091029: irrecoverable carbon v1', rel: 'via' }],
  notes: ['Source values are integers with 65535 as nodata; the unit (per hectare or per pixel) is to be confirmed against the Zenodo record.'],
  rasters,
};
