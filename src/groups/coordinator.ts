// The group coordinator of this broker: the groups it coordinates and their
// committed offsets. Both live in the metadata store: offsets on every
// commit, membership whenever a group becomes Stable or Empty, so that after
// a restart or a coordinator move the group carries on where it was (members
// that are gone expire by their session timeout, as in Kafka).

import type { Logger } from 'pino';
import type { CommittedOffset, MetadataStore } from '../coordination/metadata-store.js';
import { ErrorCode } from '../protocol/kafka-error.js';
import { Group, type GroupState, type GroupTimeouts } from './group.js';

export type OffsetMap = Map<string, Map<number, CommittedOffset>>;

export interface GroupListing {
  groupId: string;
  protocolType: string;
  state: GroupState;
}

export class GroupCoordinator {
  private readonly groups = new Map<string, Group>();
  private readonly offsets = new Map<string, Promise<OffsetMap>>();
  private readonly loading = new Map<string, Promise<void>>();
  private readonly saves = new Map<string, Promise<void>>();
  private closed = false;

  constructor(
    private readonly meta: MetadataStore,
    private readonly timeouts: GroupTimeouts,
    private readonly log: Logger,
  ) {}

  get(groupId: string): Group | undefined {
    return this.groups.get(groupId);
  }

  getOrCreate(groupId: string): Group {
    let g = this.groups.get(groupId);
    if (!g || g.state === 'Dead') {
      g = this.newGroup(groupId);
      this.groups.set(groupId, g);
    }
    return g;
  }

  private newGroup(groupId: string): Group {
    const g = new Group(groupId, this.timeouts);
    g.onEvent = (event, detail) => {
      this.log.info({ group: groupId, ...detail }, event);
      // Stable: stored by g.store before it got there.
      if (event === 'group empty') this.persist(g);
    };
    g.store = (state) => this.save(groupId, state);
    return g;
  }

  /** Saves a group's membership; saves of one group happen in order. Rejects when it failed. */
  private save(groupId: string, state: ReturnType<Group['snapshot']>): Promise<void> {
    const prev = this.saves.get(groupId) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(() => this.meta.saveGroup(groupId, state));
    this.saves.set(groupId, next);
    const done = () => {
      if (this.saves.get(groupId) === next) this.saves.delete(groupId);
    };
    next.then(done, (err: unknown) => {
      this.log.warn({ err: (err as Error).message, group: groupId }, 'group state not saved');
      done();
    });
    return next;
  }

  private persist(g: Group): void {
    this.save(g.groupId, g.snapshot()).catch(() => {});
  }

  /** Loads a group this broker now coordinates from the metadata store, once. */
  prepare(groupId: string): Promise<void> {
    if (this.groups.has(groupId)) return Promise.resolve();
    let p = this.loading.get(groupId);
    if (!p) {
      p = this.meta.loadGroup(groupId).then(
        (state) => {
          if (state && !this.groups.has(groupId) && !this.closed) {
            const g = this.newGroup(groupId);
            g.restore(state);
            this.groups.set(groupId, g);
            this.log.info({ group: groupId, generationId: state.generationId, members: state.members.length }, 'group loaded');
          }
        },
        (err: unknown) => {
          this.loading.delete(groupId);
          throw err;
        },
      );
      this.loading.set(groupId, p);
    }
    return p;
  }

  /** This broker no longer coordinates the group: drop what it holds in memory (the store keeps it). */
  forget(groupId: string): void {
    const g = this.groups.get(groupId);
    if (g) {
      g.shutdown(ErrorCode.NOT_COORDINATOR);
      this.groups.delete(groupId);
    }
    this.loading.delete(groupId);
    this.offsets.delete(groupId);
  }

  /**
   * Drops every group this broker no longer coordinates (the cluster's
   * membership changed): if the group comes back here later, it is loaded
   * again from the metadata store, where the coordinators in between left it,
   * instead of resuming from a stale generation and stale cached offsets.
   */
  retain(coordinates: (groupId: string) => boolean): void {
    for (const id of new Set([...this.groups.keys(), ...this.offsets.keys(), ...this.loading.keys()])) {
      if (!coordinates(id)) {
        this.log.info({ group: id }, 'no longer the coordinator: group state dropped');
        this.forget(id);
      }
    }
  }

  /** Drops every group (this broker's membership lapsed: any other broker may have coordinated them since). */
  forgetAll(): void {
    this.retain(() => false);
  }

  /**
   * A deleted topic's committed offsets are gone from the store: from the
   * cached ones too. A group left empty, with no member and no offset, is
   * dropped, as Kafka's group coordinator drops it (Dead).
   */
  forgetTopic(name: string): void {
    for (const [id, p] of this.offsets) {
      void p.then(
        (m) => {
          if (!m.delete(name) || m.size > 0) return;
          const g = this.groups.get(id);
          if (g && (g.state !== 'Empty' || g.members.size > 0)) return;
          g?.shutdown(ErrorCode.COORDINATOR_NOT_AVAILABLE);
          this.groups.delete(id);
          this.offsets.delete(id);
          this.meta.saveGroup(id, null).catch((err: unknown) => this.log.warn({ err, group: id }, 'could not delete an empty group'));
          this.log.info({ group: id, topic: name }, 'group dropped: empty, and its only offsets were of a deleted topic');
        },
        () => {},
      );
    }
  }

  /** Committed offsets of a group (topic -> partition -> offset). */
  committed(groupId: string): Promise<OffsetMap> {
    let p = this.offsets.get(groupId);
    if (!p) {
      p = this.meta.fetchOffsets(groupId);
      this.offsets.set(groupId, p);
      p.catch(() => this.offsets.delete(groupId));
    }
    return p;
  }

  async commit(groupId: string, entries: Array<{ topic: string; partition: number; value: CommittedOffset }>): Promise<void> {
    if (entries.length === 0) return;
    const cache = await this.committed(groupId);
    await this.meta.commitOffsets(groupId, entries);
    for (const e of entries) {
      let t = cache.get(e.topic);
      if (!t) cache.set(e.topic, (t = new Map()));
      t.set(e.partition, e.value);
    }
  }

  async deleteOffsets(groupId: string, partitions: Array<{ topic: string; partition: number }> | 'all'): Promise<void> {
    const cache = await this.committed(groupId);
    await this.meta.deleteOffsets(groupId, partitions);
    if (partitions === 'all') cache.clear();
    else for (const p of partitions) cache.get(p.topic)?.delete(p.partition);
  }

  /** Groups with members, and groups that only hold committed offsets (state Empty). */
  async list(): Promise<GroupListing[]> {
    const out = new Map<string, GroupListing>();
    for (const g of await this.meta.groupsWithOffsets()) out.set(g, { groupId: g, protocolType: 'consumer', state: 'Empty' });
    for (const [id, g] of this.groups) {
      if (g.state === 'Dead') continue;
      out.set(id, { groupId: id, protocolType: g.protocolType ?? out.get(id)?.protocolType ?? '', state: g.state });
    }
    return [...out.values()].sort((a, b) => (a.groupId < b.groupId ? -1 : 1));
  }

  async exists(groupId: string): Promise<boolean> {
    const g = this.groups.get(groupId);
    if (g && g.state !== 'Dead' && !(g.state === 'Empty' && g.members.size === 0 && g.generationId === 0)) return true;
    return (await this.committed(groupId)).size > 0;
  }

  /** DeleteGroups: only an empty group can go; its offsets go with it. */
  async delete(groupId: string): Promise<number> {
    const g = this.groups.get(groupId);
    if (g && !g.isEmpty()) return ErrorCode.NON_EMPTY_GROUP;
    if (!(await this.exists(groupId))) return ErrorCode.GROUP_ID_NOT_FOUND;
    g?.shutdown(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    this.groups.delete(groupId);
    await this.meta.saveGroup(groupId, null);
    await this.deleteOffsets(groupId, 'all');
    this.offsets.delete(groupId);
    this.log.info({ group: groupId }, 'group deleted');
    return ErrorCode.NONE;
  }

  /** Answers every open join/sync with NOT_COORDINATOR so shutdown never waits on a rebalance. */
  shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    for (const g of this.groups.values()) g.shutdown(ErrorCode.NOT_COORDINATOR);
    this.groups.clear();
  }
}
