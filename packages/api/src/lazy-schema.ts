import type { ZodTypeAny } from 'zod';

/**
 * A schema built on its first use, behind the same name and type: every property (parse,
 * safeParse, _def, …) is the real schema's, methods bound to it, and `instanceof` sees its class.
 * Building all of the response schemas cost a CLI command about 5 ms of its start-up (Bun,
 * measured), when a command checks one or two of them.
 */
export function lazySchema<T extends ZodTypeAny>(make: () => T): T {
  let schema: T | undefined;
  const real = (): T => {
    schema ??= make();
    return schema;
  };
  return new Proxy({} as T, {
    get: (_, key) => {
      const s = real();
      const value = Reflect.get(s, key, s);
      return typeof value === 'function' ? value.bind(s) : value;
    },
    has: (_, key) => key in real(),
    getPrototypeOf: () => Reflect.getPrototypeOf(real()),
  });
}
