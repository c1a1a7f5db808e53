import { z } from 'zod';
import type { RegistryClient } from './client.js';
import { RegistryError } from './errors.js';
import { readBody } from './http.js';

/** One result of Docker Hub's search API (`GET /v1/search`), as the Engine API returns it. */
export const SearchResultSchema = z.object({
  name: z.string(),
  description: z.string().default(''),
  star_count: z.number().int().default(0),
  is_official: z.boolean().default(false),
  is_automated: z.boolean().default(false),
});
export type SearchResult = z.infer<typeof SearchResultSchema>;

const SearchResponseSchema = z.object({
  num_results: z.number().int().optional(),
  query: z.string().optional(),
  results: z.array(SearchResultSchema).default([]),
});

/**
 * Asks a registry's search API (Docker Hub's index speaks `/v1/search?q=…&n=…`; the
 * distribution registry has none, and says so with a 404).
 */
export async function searchRepositories(
  client: RegistryClient,
  term: string,
  limit = 25,
): Promise<SearchResult[]> {
  const host = client.host === 'docker.io' ? 'https://index.docker.io' : '';
  const res = await client.request(`${host}/v1/search?q=${encodeURIComponent(term)}&n=${limit}`, {});
  const body = await readBody(res, 16 * 1024 * 1024);
  if (res.status === 404)
    throw new RegistryError(
      'not-found',
      `Unexpected status code 404: the registry ${client.host} has no search API (GET /v1/search)`,
    );
  if (res.status === 401 || res.status === 403)
    throw new RegistryError('unauthorized', `unauthorized: search on ${client.host} needs a login`);
  if (res.status !== 200)
    throw new RegistryError('system', `Unexpected status code ${res.status} from ${client.host}/v1/search`);
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new RegistryError('system', `invalid search response from ${client.host}: not JSON`);
  }
  const parsed = SearchResponseSchema.safeParse(json);
  if (!parsed.success) throw new RegistryError('system', `invalid search response from ${client.host}`);
  return parsed.data.results.slice(0, limit);
}
