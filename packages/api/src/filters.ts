/**
 * Docker's `label` filter on one object: `key` matches when the label is set (any value),
 * `key=value` when it has that value. Only the first `=` splits: values may contain more.
 */
export function labelFilterMatches(
  labels: Readonly<Record<string, string>> | null | undefined,
  filter: string,
): boolean {
  const i = filter.indexOf('=');
  const key = i < 0 ? filter : filter.slice(0, i);
  if (labels == null || !Object.hasOwn(labels, key)) return false;
  return i < 0 || labels[key] === filter.slice(i + 1);
}
