import { BadUserInput } from '@slipway/schema';

/** GraphQL IDs are the decimal row ids; anything else is refused before it reaches SQL. */
export function parseId(value: string | number, field: string): number {
  const text = String(value);
  if (!/^[1-9][0-9]{0,15}$/.test(text)) throw new BadUserInput(field, 'is not a valid id');
  return Number(text);
}
