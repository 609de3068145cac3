export { loadConfig } from './config.ts';
export { createSlipwayServer } from './http.ts';
