export * from './steps.js';
export * from './instance.js';
export * from './plan.js';
export * from './apply.js';
