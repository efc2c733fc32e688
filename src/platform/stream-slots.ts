/**
 * At most `max` open streams per key (a login attempt, a device): opening one more closes the
 * oldest. A client that opens streams in a loop then holds `max` of them, never thousands.
 * Per process: behind a load balancer each instance keeps its own count.
 */
export class StreamSlots {
  private readonly byKey = new Map<string, (() => void)[]>();

  constructor(readonly max: number) {}

  /** Register an open stream's `close`; returns the release to call once it has closed. */
  take(key: string, close: () => void): () => void {
    let list = this.byKey.get(key);
    if (!list) this.byKey.set(key, (list = []));
    list.push(close);
    while (list.length > this.max) list.shift()!();
    return () => {
      const l = this.byKey.get(key);
      if (!l) return;
      const i = l.indexOf(close);
      if (i >= 0) l.splice(i, 1);
      if (l.length === 0) this.byKey.delete(key);
    };
  }
}
