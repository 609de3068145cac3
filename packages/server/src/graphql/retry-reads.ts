import { isConnectionError } from '@slipway/schema';
import { getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from './context.ts';

/**
 * After a database restart, each pooled connection the restart broke fails the one query that next uses it, then
 * reconnects. A read-only operation (a query) that failed that way is run once more, from scratch; a mutation never
 * is (it may have done its work before the answer was lost).
 */
export function retryReadsOnBrokenConnection(): Plugin<Context> {
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      if (getOperationAST(args.document, args.operationName)?.operation !== 'query') return;
      setExecuteFn(async (executeArgs) => {
        const result = await executeFn(executeArgs);
        if (!('errors' in result) || !result.errors?.some(isConnectionError)) return result;
        (executeArgs.contextValue as Context).forget();
        return executeFn(executeArgs);
      });
    },
  };
}
