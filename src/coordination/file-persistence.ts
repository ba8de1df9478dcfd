// Embedded metadata persisted in the data directory: journal.log (fsync'd,
// group-committed) and snapshot.json (atomic rename).

import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Journal, fileExists, writeFileDurable, type JournalRecord } from './journal.js';
import type { LoadedState, MetadataPersistence } from './persistence.js';

export class FilePersistence<S, O> implements MetadataPersistence<S, O> {
  readonly description: string;
  private readonly journal: Journal;
  private readonly snapshotPath: string;
  onIdle: (() => Promise<void>) | null = null;

  constructor(private readonly dir: string) {
    this.description = dir;
    this.journal = new Journal(join(dir, 'journal.log'));
    this.snapshotPath = join(dir, 'snapshot.json');
    this.journal.onIdle = () => this.onIdle?.() ?? Promise.resolve();
  }

  async load(): Promise<LoadedState<S, O>> {
    await mkdir(this.dir, { recursive: true });
    const snapshot = (await fileExists(this.snapshotPath))
      ? (JSON.parse(await readFile(this.snapshotPath, 'utf8')) as { seq: number; state: S })
      : null;
    const records = await this.journal.openAndRead<O>();
    return { snapshot, records };
  }

  append(record: JournalRecord<O>): Promise<void> {
    return this.journal.append(record);
  }

  journalBytes(): number {
    return this.journal.size;
  }

  async writeSnapshot(_seq: number, serialized: string): Promise<void> {
    await writeFileDurable(this.snapshotPath, serialized);
    await this.journal.reset();
  }

  close(): Promise<void> {
    return this.journal.close();
  }
}
