export * from './db.ts';
export * from './errors.ts';
export * from './queue.ts';
export * from './roles.ts';
export * from './tables.ts';
export * from './transitions.ts';
export * from './validation.ts';
export * from './workflow.ts';
