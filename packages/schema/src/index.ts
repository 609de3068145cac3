export * from './db.ts';
export * from './errors.ts';
export * from './roles.ts';
export * from './tables.ts';
export * from './validation.ts';
