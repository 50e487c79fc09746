export * from './profile.ts';
export * from './policy.ts';
export * from './spec.ts';
export * from './spec-rules.ts';
export * from './stage.ts';
export * from './pipelines.ts';
export * from './synth.ts';
export * from './prose.ts';
