export { type ExecutorConfig, loadExecutorConfig } from './config.ts';
export { Worker } from './worker.ts';
