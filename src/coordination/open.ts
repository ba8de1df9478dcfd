// Chooses the MetadataStore implementation from the --metadata URL.

import { join } from 'node:path';
import type { Logger } from 'pino';
import { EmbeddedMetadataStore } from './embedded-metadata-store.js';
import type { MetadataStore } from './metadata-store.js';

export async function openMetadataStore(url: string, dataDir: string, log: Logger): Promise<MetadataStore> {
  if (url === 'embedded') return new EmbeddedMetadataStore(join(dataDir, 'meta'), log);
  if (url.startsWith('etcd://')) throw new Error('etcd:// metadata is not implemented yet (see the README)');
  throw new Error(`unknown metadata URL ${url}: use embedded`);
}
