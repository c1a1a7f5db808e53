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
export { type BlobStore, listTags, type ProgressEvent } from './distribution.js';
export { fetchManifest, type LayerSink, type PullOptions, type PullResult, pullImage } from './pull.js';
export { type PushOptions, pushImage } from './push.js';
export { RegistryError, type RegistryErrorKind } from './errors.js';
export { type SearchResult, SearchResultSchema, searchRepositories } from './search.js';
