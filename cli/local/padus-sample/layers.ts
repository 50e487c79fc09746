/**
 * The 6 spatial layers of the PAD-US-shaped sample: their real PAD-US 4.1 names, fields (names and
 * types from padus-4-1.md; string widths are plausible values, not verified against the real
 * geodatabase, nor is the position of the easement fields) and feature classes.
 */

/** The real PAD-US 4.1 layer names, by feature class. */
export const PADUS_LAYER_NAMES = {
  fee: 'PADUS4_1Fee',
  easement: 'PADUS4_1Easement',
  proclamation: 'PADUS4_1Proclamation',
  marine: 'PADUS4_1Marine',
  designation: 'PADUS4_1Designation',
  combined: 'PADUS4_1Combined_Proclamation_Marine_Fee_Designation_Easement',
} as const;

export type LayerKey = keyof typeof PADUS_LAYER_NAMES;
/** The layers features are drawn for; Combined is their union. */
export type SourceKey = Exclude<LayerKey, 'combined'>;

/** The order the spatial layers are written in. */
export const LAYER_ORDER: LayerKey[] = ['fee', 'easement', 'proclamation', 'marine', 'designation', 'combined'];

export type FieldSpec = [name: string, type: 'string' | 'integer' | 'real', width?: number];

const COMMON_FIELDS: FieldSpec[] = [
  ['FeatClass', 'string', 12], ['Category', 'string', 12], ['Own_Type', 'string', 5], ['Own_Name', 'string', 5],
  ['Loc_Own', 'string', 254], ['Mang_Type', 'string', 5], ['Mang_Name', 'string', 5], ['Loc_Mang', 'string', 254],
  ['Des_Tp', 'string', 5], ['Loc_Ds', 'string', 254], ['Unit_Nm', 'string', 254], ['Loc_Nm', 'string', 254],
  ['State_Nm', 'string', 3], ['Agg_Src', 'string', 254], ['GIS_Src', 'string', 254], ['Src_Date', 'string', 10],
  ['GIS_Acres', 'integer'], ['Source_PAID', 'string', 254], ['WDPA_Cd', 'integer'], ['Pub_Access', 'string', 3],
  ['Access_Src', 'string', 254], ['Access_Dt', 'string', 10], ['GAP_Sts', 'string', 2], ['GAPCdSrc', 'string', 254],
  ['GAPCdDt', 'string', 10], ['IUCN_Cat', 'string', 30], ['IUCNCtSrc', 'string', 254], ['IUCNCtDt', 'string', 10],
  ['Date_Est', 'string', 10], ['Comments', 'string', 254],
];
const SHAPE_FIELDS: FieldSpec[] = [['SHAPE_Length', 'real'], ['SHAPE_Area', 'real']];
const TERM_FIELDS: FieldSpec[] = [['Term', 'integer'], ['Duration', 'string', 10]];
const HOLDER_FIELDS: FieldSpec[] = [['EsmtHldr', 'string', 254], ['EHoldTyp', 'string', 5]];

/** The fields of each spatial layer, in order. */
export const LAYER_FIELDS: Record<LayerKey, FieldSpec[]> = {
  fee: [...COMMON_FIELDS, ...SHAPE_FIELDS],
  easement: [...COMMON_FIELDS, ...HOLDER_FIELDS, ...TERM_FIELDS, ...SHAPE_FIELDS],
  proclamation: [...COMMON_FIELDS, ...SHAPE_FIELDS],
  marine: [...COMMON_FIELDS, ...SHAPE_FIELDS],
  designation: [...COMMON_FIELDS, ...SHAPE_FIELDS],
  combined: [...COMMON_FIELDS, ...TERM_FIELDS, ...SHAPE_FIELDS],
};

/** The FeatClass attribute of each source layer's features. */
export const FEAT_CLASS: Record<SourceKey, string> = {
  fee: 'Fee', easement: 'Easement', proclamation: 'Proclamation', marine: 'Marine', designation: 'Designation',
};

/** Order of the source layers inside Combined, as its name says. */
export const COMBINED_ORDER: SourceKey[] = ['proclamation', 'marine', 'fee', 'designation', 'easement'];

