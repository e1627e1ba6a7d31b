// The agent's on-disk store: objects/sha256/<hex>, revisions/<n>/manifest.json, volumes/<container>/<name>.
export { ObjectStore, type StoredObject, type PutOptions } from './object-store.js';
export { RevisionStore } from './revision-store.js';
export { VolumeStore, type VolumeMount } from './volumes.js';
export { planGc, collectGarbage, type GcResult } from './gc.js';
export { ObjectPins, DEFAULT_PIN_TTL_MS, type Pin } from './pins.js';
export { StoreError, type StoreErrorCode } from './errors.js';
export { fsyncDir, writeFileAtomic } from './durable.js';
