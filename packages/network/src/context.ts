import type { Logger } from '@ts-container/common';
import type { BridgeDriver } from './bridge-driver.js';
import type { Resolver } from './resolver.js';
import type { NetworkState } from './state.js';

/**
 * What the manager's services share, under the manager's lock: the state (read through the
 * getter, as init() replaces it), its atomic save, the firewall re-apply, and the parts that turn
 * records into kernel objects (the bridge driver) and names (the resolver).
 */
export interface ManagerContext {
  readonly state: NetworkState;
  save(): Promise<void>;
  /** Re-installs the whole firewall rule set from the state. */
  applyFirewall(): Promise<void>;
  readonly driver: BridgeDriver;
  readonly resolver: Resolver;
  readonly logger: Logger;
}
