export * from './tables/hosts.ts';
export * from './tables/jobs.ts';
export * from './tables/projects.ts';
export * from './tables/tickets.ts';
export * from './tables/users.ts';
