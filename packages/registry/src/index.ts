export { type AuthChallenge, basicAuthHeader, type Credentials, parseChallenge } from './auth.js';
export { apiHost, isInsecure, RegistryClient, type RegistryOptions } from './client.js';
export {
  authKey,
  DOCKER_HUB_AUTH_KEY,
  defaultDockerConfigPath,
  loadCredentials,
  removeCredentials,
  saveCredentials,
} from './credentials.js';
export {
  type BlobStore,
  fetchManifest,
  listTags,
  type ProgressEvent,
  type LayerSink,
  type PullOptions,
  type PullResult,
  pullImage,
  type PushOptions,
  pushImage,
} from './distribution.js';
export { RegistryError, type RegistryErrorKind } from './errors.js';
export { type SearchResult, SearchResultSchema, searchRepositories } from './search.js';
