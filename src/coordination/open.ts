// Chooses the MetadataStore implementation from the --metadata URL.

import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ObjectStore } from '../storage/object-store.js';
import { FsObjectStore } from '../storage/fs-object-store.js';
import { EmbeddedMetadataStore, type EmbeddedPersistence } from './embedded-metadata-store.js';
import type { MetadataState, Operation } from './manifest-state.js';
import { FilePersistence } from './file-persistence.js';
import type { MetadataStore } from './metadata-store.js';
import { ObjectPersistence } from './object-persistence.js';
import type { EtcdOptions } from './etcd-metadata-store.js';

/**
 * Embedded metadata lives beside the data: in the data directory when objects
 * are local, in the object store when they are remote (the disk is then a cache).
 */
export type EtcdSettings = Omit<EtcdOptions, 'endpoints'>;

/** `snapshotAfterBytes`: the embedded store's (--metadata-snapshot-bytes). */
export async function openMetadataStore(url: string, dataDir: string, store: ObjectStore, log: Logger, etcd: EtcdSettings, snapshotAfterBytes?: number): Promise<MetadataStore> {
  if (url === 'embedded') {
    const persistence: EmbeddedPersistence =
      store instanceof FsObjectStore
        ? new FilePersistence<MetadataState, Operation>(join(dataDir, 'meta'))
        : new ObjectPersistence<MetadataState, Operation>(store);
    return new EmbeddedMetadataStore(persistence, log, snapshotAfterBytes, store);
  }
  if (url.startsWith('etcd://')) {
    // Loaded here, not at start: etcd3 brings gRPC and protobufjs, which a single broker need not load.
    const { EtcdMetadataStore, parseEtcdUrl } = await import('./etcd-metadata-store.js');
    return new EtcdMetadataStore({ endpoints: parseEtcdUrl(url), ...etcd }, log);
  }
  throw new Error(`unknown metadata URL ${url}: use embedded or etcd://host:port[,host:port]`);
}
