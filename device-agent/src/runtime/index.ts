export * from './container-runtime.js';
export { Ipam, parseSubnet } from './network/ipam.js';
export { BridgeNetwork, type BridgeOptions } from './network/bridge.js';
export { Liblxc, LxcContainer, LxcError, type LxcState } from './lxc/liblxc.js';
export {
  ExecStarter,
  HelperStarter,
  StarterClient,
  defaultStarterCommand,
  type Starter,
  type StarterCommand,
} from './lxc/starter.js';
export { LxcRuntime, type LxcRuntimeOptions } from './lxc/lxc-runtime.js';
export { renderLxcConfig, initArgv, FLEET_RUN_DIR } from './lxc/config.js';
