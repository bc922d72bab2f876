export { type Challenge, parseChallenges, pickChallenge } from './challenge.js';
export { type CallOptions, RegistryClient, type RegistryClientOptions } from './client.js';
export {
  type Credential,
  findCredential,
  type FoundCredential,
  credentialFiles,
  type HelperResult,
  resolveCredential,
  type ResolveCredentialOptions,
  runCredentialHelper,
} from './credentials.js';
export { DigestCounter, digestAlgorithm, sha256Digest, verifyDigest } from './digest.js';
export {
  RegistryDigestError,
  RegistryError,
  type RegistryErrorCode,
  RegistryHttpError,
  SPEC_ERROR_CODES,
  type SpecErrorCode,
  type SpecErrorDetail,
} from './errors.js';
export { type FetchedManifest, MANIFEST_SIZE_LIMIT, parseIndex, parseManifest, type PushedManifest } from './manifests.js';
export { type Descriptor, type Index, isIndexMediaType, MANIFEST_ACCEPT, type Manifest, MediaType, type Platform } from './media-types.js';
export { formatPlatform, hostPlatform, parsePlatform, platformMatches, selectPlatform } from './platform.js';
export { type PulledImage, type PulledLayer, pullImage, type PullImageOptions } from './pull-image.js';
export { type ConfigSource, type ImageSource, type LayerSource, type PushedImage, pushImage, type PushImageOptions, type PushProgress } from './push-image.js';
export {
  apiHost,
  DOCKER_HUB,
  DOCKER_HUB_API,
  DOCKER_HUB_CREDENTIAL_KEY,
  formatReference,
  hostName,
  isLoopbackHost,
  isPrivateHost,
  manifestIdentifier,
  parseReference,
  type ParseReferenceOptions,
  type Reference,
  registryScheme,
} from './reference.js';
export { referrersTag } from './referrers.js';
export type { RetryOptions } from './_retry.js';
export type { CredentialSource, TransportOptions } from './_transport.js';
export { type BearerToken, fetchToken, type FetchTokenOptions } from './token.js';
export type { BlobPushStatus, BlobSource, PushBlobOptions, PushedBlob } from './upload.js';
