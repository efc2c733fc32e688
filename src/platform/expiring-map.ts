import type { Clock } from './clock.js';

/**
 * A small in-memory map whose entries lapse `ttlMs` after they were set. Past `maxEntries` it
 * starts afresh: a bound, not an eviction policy (the callers keep a handful of rows).
 */
export class ExpiringMap<K, V> {
  private readonly entries = new Map<K, { value: V; until: number }>();

  constructor(
    private readonly clock: Pick<Clock, 'now'>,
    private readonly ttlMs: number,
    private readonly maxEntries = 1000,
  ) {}

  get(key: K): V | undefined {
    const hit = this.entries.get(key);
    return hit && hit.until > this.clock.now() ? hit.value : undefined;
  }

  set(key: K, value: V): void {
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(key, { value, until: this.clock.now() + this.ttlMs });
  }
}
