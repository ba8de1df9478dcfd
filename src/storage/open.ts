// Chooses the ObjectStore implementation from the --storage URL.

import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { FsObjectStore } from './fs-object-store.js';
import { MemoryObjectStore } from './memory-object-store.js';
import type { ObjectStore } from './object-store.js';

export async function openObjectStore(url: string): Promise<ObjectStore> {
  if (url.startsWith('file://')) {
    const path = url.startsWith('file:///') ? fileURLToPath(url) : resolve(url.slice('file://'.length));
    const store = new FsObjectStore(path);
    await store.removeTempFiles();
    return store;
  }
  if (url === 'memory://' || url === 'memory') return new MemoryObjectStore();
  if (url.startsWith('s3://')) throw new Error('s3:// storage is not implemented yet (see the README)');
  if (!url.includes('://')) return new FsObjectStore(resolve(url));
  throw new Error(`unknown storage URL ${url}: use file:///path or memory://`);
}
