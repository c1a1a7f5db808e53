import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { lazySchema } from './lazy-schema.js';

describe('lazySchema', () => {
  it('builds the schema on first use, once, and behaves as it', () => {
    let built = 0;
    const Row = lazySchema(() => {
      built++;
      return z.object({ Id: z.string(), Ports: z.array(z.number()).nullable() }).passthrough();
    });
    expect(built).toBe(0);
    const List = z.array(Row);
    expect(List.parse([{ Id: 'a', Ports: null, Extra: 1 }])).toEqual([{ Id: 'a', Ports: null, Extra: 1 }]);
    expect(Row.safeParse({ Id: 1 }).success).toBe(false);
    expect(Row instanceof z.ZodObject).toBe(true);
    expect(Object.keys(Row.shape)).toEqual(['Id', 'Ports']);
    expect(Row.extend({ Name: z.string() }).parse({ Id: 'a', Ports: [1], Name: 'n' })).toMatchObject({
      Name: 'n',
    });
    expect(built).toBe(1);
  });
});
