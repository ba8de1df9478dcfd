// Chooses the ObjectStore implementation from the --storage URL.

import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { FsObjectStore } from './fs-object-store.js';
import { LocalCopyObjectStore } from './local-copy-store.js';
import { MemoryObjectStore } from './memory-object-store.js';
import type { ObjectStore } from './object-store.js';
import type { S3Options } from './s3-object-store.js';

export type S3Settings = Omit<S3Options, 'bucket' | 'prefix'>;

/** Local copies of a remote store's WAL objects (see LocalCopyObjectStore); none when maxBytes is 0. */
export interface LocalCopies {
  dir: string;
  maxBytes: number;
}

export async function openObjectStore(url: string, s3: S3Settings = {}, localCopies?: LocalCopies): Promise<ObjectStore> {
  if (url.startsWith('file://')) {
    return openDirectory(url.startsWith('file:///') ? fileURLToPath(url) : resolve(url.slice('file://'.length)));
  }
  if (url === 'memory://' || url === 'memory') return new MemoryObjectStore();
  if (url.startsWith('s3://')) {
    // Loaded here, not at start: the AWS SDK takes about 160 ms to load, which a broker on a local directory need not pay.
    const { S3ObjectStore, parseS3Url } = await import('./s3-object-store.js');
    const store = new S3ObjectStore({ ...parseS3Url(url), ...s3 });
    await store.checkAccess();
    return localCopies && localCopies.maxBytes > 0 ? LocalCopyObjectStore.open(store, localCopies.dir, localCopies.maxBytes) : store;
  }
  if (!url.includes('://')) return openDirectory(resolve(url));
  throw new Error(`unknown storage URL ${url}: use file:///path, s3://bucket/prefix or memory://`);
}

/** Temp files and spare WAL files a crash left are removed before the store is used. */
async function openDirectory(path: string): Promise<FsObjectStore> {
  const store = new FsObjectStore(path);
  await store.removeTempFiles();
  return store;
}
