export {
  busyboxRootfsTar,
  CLI_BIN,
  type CommandResult,
  DAEMON_BIN,
  DOCKER_CLI,
  e2eSkipReason,
  isRoot,
  REPO_ROOT,
  TestDaemon,
} from './daemon.js';
export {
  CLI_COMPILED,
  CLI_RUNTIMES,
  type CliRuntime,
  NODE_CLI,
  TSCTR,
  tsctrArgv,
} from './cli-runtime.js';
export {
  makeCertificateAuthority,
  type CertificateAuthority,
  type IssuedCertificate,
} from './certificates.js';
export { e2eSkip, useDaemon, useTempDir, type DaemonFixtureOptions } from './fixture.js';
export { freePort, hasRegistry, registrySkipReason, TestRegistry } from './registry-server.js';
