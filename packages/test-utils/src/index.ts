export { run, type ExecResult, type RunOptions } from './exec.js';
export { hasPeers, isCI, missingPeers, PEERS, type Peer, which } from './peers.js';
export { makeTempDir, type TempDir } from './tmp.js';
export {
  buildHelloClosure,
  buildNix,
  copyStoreFiles,
  copyToChrootStore,
  exportReferencesGraph,
  type BuildNixOptions,
  helloExpression,
  instantiateNix,
  type InstantiateNixOptions,
  type HelloClosure,
  NIX_OPTIONS,
  nixPathInfo,
  type NixPathInfo,
  runNixBuild,
  shDerivation,
} from './nix.js';
export { nixShellExpression, type NixShellExpressionOptions, nixShellPureEnv, parseEnv0 } from './nix-shell.js';
export { freePort, openUploadSessions, type RunningRegistry, startRegistry, type StartRegistryOptions } from './registry.js';
export { makeDockerArchive } from './archive.js';
export { PODMAN_GLOBAL, PODMAN_RUN, podmanInspect, podmanLoad, podmanRemove, podmanRun, type PodmanRunOptions } from './podman.js';
export { skopeoInspect, type UnpackedFile, type UnpackedImage, unpackImage } from './image.js';
export { type LayoutImage, verifyOciArchive, verifyOciLayout } from './oci.js';
export { repoRoot, runStrata } from './cli.js';
export { startTokenServer, type RunningTokenServer, type TokenRequest, type TokenServerOptions } from './token-server.js';
export { type Fault, type FaultProxyOptions, type FaultRule, type ProxiedRequest, type RunningFaultProxy, startFaultProxy } from './fault-proxy.js';
