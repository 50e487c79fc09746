import type { DatasetProse } from '../constructs/index.ts';

/**
 * Documentation prose for IUCN 2025: the amphibian range maps and the richness rasters. The
 * amphibians columns (and `iucn-2025.schema.json`) are TRANSCRIBED from the Red List range-map
 * attribute list, NOT read from AMPHIBIANS.zip: confirm with `cng docs iucn-2025 --brief
 * --write-schema --s3-endpoint https://s3-west.nrp-nautilus.io` after the first run.
 */

const GROUP: Record<string, string> = {
  amphibians: 'amphibians', birds: 'birds', mammals: 'mammals', reptiles: 'reptiles', 'fw-fish': 'freshwater fishes', combined: 'all the groups above',
};
const rasters: NonNullable<DatasetProse['rasters']> = {
  'combined-rwr': { title: 'Range-size rarity, all groups', description: 'Range-size rarity (sum over species of the inverse of their range size) of all the groups.', units: 'range-size rarity (float)' },
  'combined-thr-rwr': { title: 'Range-size rarity of threatened species, all groups', description: 'Range-size rarity of the threatened species (CR, EN, VU) of all the groups.', units: 'range-size rarity (float)' },
};
for (const [key, group] of Object.entries(GROUP)) {
  rasters[`${key}-sr`] = { title: `Species richness: ${group}`, description: `Number of species of ${group} whose ranges cover the pixel (IUCN Red List 2025).`, units: 'species' };
  rasters[`${key}-thr-sr`] = { title: `Threatened species richness: ${group}`, description: `Number of threatened species (CR, EN, VU) of ${group} whose ranges cover the pixel.`, units: 'species' };
}

export const iucn2025Prose: DatasetProse = {
  title: 'IUCN Red List 2025: amphibian range maps and species richness',
  description:
    'Range maps and species-richness maps from the IUCN Red List of Threatened Species, version 2025-1. The amphibian range maps give each ' +
    "species' distribution polygons; the richness rasters count the species (and the threatened species) of amphibians, birds, mammals, " +
    'reptiles and freshwater fishes whose ranges cover each pixel, with range-size rarity for all groups.\n\n' +
    'This collection republishes the amphibian ranges as GeoParquet (EPSG:4326), PMTiles and H3 hexagons at resolution 10 (parents 9 and 8), ' +
    'and the 14 richness rasters as Cloud-Optimized GeoTIFFs and H3 hexagons at resolution 8 (area-weighted mean richness per cell).',
  license: 'proprietary',
  licenseText:
    'IUCN Red List Terms and Conditions of Use: non-commercial use with attribution; no redistribution of the spatial data without permission. Check the terms (and the permission for this republication) before publishing.',
  licenseUrl: 'https://www.iucnredlist.org/terms/terms-of-use',
  citation: 'IUCN (2025). The IUCN Red List of Threatened Species. Version 2025-1. https://www.iucnredlist.org',
  providers: [{ name: 'IUCN', roles: ['producer', 'licensor'], url: 'https://www.iucnredlist.org/resources/spatial-data-download' }],
  keywords: ['IUCN Red List', 'species ranges', 'species richness', 'amphibians', 'threatened species', 'biodiversity', 'global', 'H3', 'GeoParquet', 'COG'],
  temporal: ['2025-01-01T00:00:00Z', '2025-12-31T23:59:59Z'],
  links: [{ href: 'https://www.iucnredlist.org/resources/spatial-data-download', title: 'IUCN Red List spatial data download', rel: 'via' }],
  notes: [
    'Range polygons overlap (several per species, one per presence/origin/seasonality combination): count DISTINCT id_no per cell.',
    'The amphibians columns are transcribed from the Red List documentation; confirm them against the first run (the prose file says how).',
  ],
  layers: {
    amphibians: {
      title: 'Amphibian range maps',
      description: 'Distribution polygons of the amphibian species assessed on the IUCN Red List (version 2025-1).',
      columns: {
        id_no: "IUCN Red List taxon id of the species.",
        sci_name: "Scientific name of the species.",
        presence: "Presence code: 1 extant, 2 probably extant, 3 possibly extant, 4 possibly extinct, 5 extinct, 6 presence uncertain.",
        origin: "Origin code: 1 native, 2 reintroduced, 3 introduced, 4 vagrant, 5 origin uncertain, 6 assisted colonisation.",
        seasonal: "Seasonality code: 1 resident, 2 breeding season, 3 non-breeding season, 4 passage, 5 seasonal occurrence uncertain.",
        compiler: "Who compiled the range polygon.",
        yrcompiled: "Year the polygon was compiled.",
        citation: "Citation of the range map as the Red List gives it.",
        subspecies: "Subspecies name, when the polygon is for a subspecies.",
        subpop: "Subpopulation name, when the polygon is for a subpopulation.",
        source: "Source of the range data.",
        island: "Island name, when the polygon is an island.",
        tax_comm: "Taxonomic comments.",
        dist_comm: "Distribution comments.",
        generalisd: "1 when the range is generalised (coarse), else 0.",
        legend: "Map legend of the polygon (combination of presence, origin and seasonality).",
        kingdom: "Kingdom of the species.",
        phylum: "Phylum of the species.",
        class: "Class of the species.",
        order_: "Order of the species.",
        family: "Family of the species.",
        genus: "Genus of the species.",
        category: "Red List category (EX, EW, CR, EN, VU, NT, LC, DD).",
        marine: "Whether the species occurs in marine systems (true/false).",
        terrestria: "Whether the species occurs in terrestrial systems (true/false; the shapefile truncates the name).",
        freshwater: "Whether the species occurs in freshwater systems (true/false).",
        SHAPE_Leng: "Perimeter of the source polygon as stored by the producer (degrees).",
        SHAPE_Area: "Area of the source polygon as stored by the producer (square degrees).",
      },
    },
  },
  rasters,
};
