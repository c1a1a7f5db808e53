import { InvalidReferenceError } from './errors.js';

export const DEFAULT_DOMAIN = 'docker.io';
export const DEFAULT_TAG = 'latest';
const LEGACY_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';

// distribution/reference grammar, restated.
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$|^\[[a-fA-F0-9:]+\](?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const MAX_NAME_LENGTH = 255;

/** A normalised image reference: `docker.io/library/busybox:latest`, `host:5000/a/b@sha256:…`. */
export interface ImageReference {
  /** Registry host, e.g. `docker.io`, `localhost:5000`. */
  domain: string;
  /** Repository path inside the registry, e.g. `library/busybox`. */
  path: string;
  tag?: string;
  digest?: string;
}

/**
 * Parses a reference the way Docker normalises user input: a missing domain means
 * docker.io, a single-component Docker Hub name gets `library/`, and a missing tag
 * (when there is no digest) means `latest` if `defaultTag` is set.
 */
export function parseReference(input: string, options: { defaultTag?: boolean } = {}): ImageReference {
  const defaultTag = options.defaultTag ?? true;
  if (input === '') throw new InvalidReferenceError('invalid reference format');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new InvalidReferenceError('invalid reference format');
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new InvalidReferenceError('invalid reference format');
  }
  if (rest === '') throw new InvalidReferenceError('invalid reference format');

  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (
      first.includes('.') ||
      first.includes(':') ||
      first === 'localhost' ||
      first !== first.toLowerCase()
    ) {
      if (!DOMAIN.test(first)) throw new InvalidReferenceError('invalid reference format');
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (domain === LEGACY_DOMAIN) domain = DEFAULT_DOMAIN;
  if (path !== path.toLowerCase() && path.split('/').every((c) => COMPONENT.test(c.toLowerCase()))) {
    const shown = domain === DEFAULT_DOMAIN && !path.includes('/') ? OFFICIAL_REPO_PREFIX + path : path;
    throw new InvalidReferenceError(`invalid reference format: repository name (${shown}) must be lowercase`);
  }
  if (!path.split('/').every((c) => COMPONENT.test(c))) {
    throw new InvalidReferenceError('invalid reference format');
  }
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_REPO_PREFIX + path;
  if (`${domain}/${path}`.length > MAX_NAME_LENGTH) {
    throw new InvalidReferenceError(
      `invalid reference format: repository name must not be more than ${MAX_NAME_LENGTH} characters`,
    );
  }
  if (tag === undefined && digest === undefined && defaultTag) tag = DEFAULT_TAG;
  const ref: ImageReference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** `docker.io/library/busybox` */
export function repositoryName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The fully qualified string: `docker.io/library/busybox:latest` or `…@sha256:…`. */
export function formatReference(ref: ImageReference): string {
  let s = repositoryName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** The short form Docker shows users: `busybox:latest`, `myuser/app:1`, `localhost:5000/x:y`. */
export function familiarName(ref: ImageReference): string {
  return (
    familiarRepository(ref) +
    (ref.tag !== undefined ? `:${ref.tag}` : '') +
    (ref.digest !== undefined ? `@${ref.digest}` : '')
  );
}

export function familiarRepository(ref: ImageReference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return repositoryName(ref);
  return ref.path.startsWith(OFFICIAL_REPO_PREFIX) ? ref.path.slice(OFFICIAL_REPO_PREFIX.length) : ref.path;
}

/** True when the input looks like an image ID or a prefix of one rather than a name. */
export function looksLikeImageId(input: string): boolean {
  return /^(sha256:)?[a-f0-9]{4,64}$/.test(input);
}
