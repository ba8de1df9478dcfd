// Keeps the partitions this broker leads in step with what the metadata
// store assigns to it: opens (takes over, with a new epoch) the ones assigned
// and not open or fenced, hands over the ones no longer assigned. One pass at
// a time; events during a pass schedule another.

import type { Logger } from 'pino';
import { partitionKey, type MetadataStore } from '../coordination/metadata-store.js';
import type { LogManager } from '../storage/log-manager.js';
import type { Topics } from './topics.js';

const SAFETY_NET_MS = 2000;
/** A take-over that failed or had to wait for a proven membership is retried this soon. */
const RETRY_MS = 250;

export class Leadership {
  private running: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly trigger = () => this.schedule();

  constructor(
    private readonly meta: MetadataStore,
    private readonly logs: LogManager,
    private readonly topics: Topics,
    private readonly log: Logger,
  ) {}

  /** Opens the first assignment before the broker starts serving. */
  async start(): Promise<void> {
    this.meta.on('assignment', this.trigger);
    this.meta.on('topics', this.trigger);
    this.logs.onFenced = this.trigger;
    await this.reconcile();
    this.timer = setInterval(this.trigger, SAFETY_NET_MS);
    this.timer.unref();
  }

  schedule(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.reconcile()
      .catch((err: unknown) => this.log.error({ err }, 'leadership pass failed'))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.schedule();
        }
      });
  }

  private async reconcile(): Promise<void> {
    const wanted = new Set<string>();
    // Taking over needs a proven membership; a pass soon after retries.
    const canOpen = this.meta.writable();
    let retry = false;
    for (const { topicId, partition } of this.meta.assignedPartitions()) {
      if (this.stopped) return;
      wanted.add(partitionKey(topicId, partition));
      const open = this.logs.get(topicId, partition);
      if (open && !open.fenced) continue;
      if (!canOpen) {
        retry = true;
        continue;
      }
      const topic = this.topics.byId(topicId);
      if (!topic || partition >= topic.partitions) continue;
      try {
        await this.logs.open(topic, partition);
      } catch (err) {
        retry = true;
        this.log.warn({ err: (err as Error).message, topic: topic.name, partition }, 'could not take over partition; will retry');
      }
    }
    if (retry && !this.retryTimer && !this.stopped) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.schedule();
      }, RETRY_MS);
      this.retryTimer.unref();
    }
    for (const log of [...this.logs.all()]) {
      if (wanted.has(partitionKey(log.topicId, log.partition))) continue;
      await this.logs.release(log.topicId, log.partition);
    }
  }

  /** Waits until a pass has run after the latest event (used while draining). */
  async settle(): Promise<void> {
    this.schedule();
    while (this.running) await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.meta.off('assignment', this.trigger);
    this.meta.off('topics', this.trigger);
    await this.running;
  }
}
