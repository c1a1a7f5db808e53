import type { Engine } from '@ts-container/engine';
import { HttpError, type RequestContext } from '../http.js';
import type { Router } from '../router.js';

/** `POST /images/create?fromImage=…`: pull from a registry (the import form is in images.ts). */
export async function pullImage(_engine: Engine, { query }: RequestContext): Promise<void> {
  const from = query.get('fromImage') ?? '';
  const tag = query.get('tag');
  throw new HttpError(
    404,
    `pull access denied for ${from}${tag ? `:${tag}` : ''}: registry access is not available yet`,
  );
}

/** Registry endpoints: push, login (`/auth`), search. */
export function registerRegistry(_router: Router, _engine: Engine): void {}
