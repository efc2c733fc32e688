import { SseParser } from '../../src/protocol/sse.js';

/** A server-sent-events client for tests: reads a stream into a list of events as they arrive. */
export interface SseEvent {
  event: string;
  data: string;
  id: string | undefined;
  /** performance.now() when the event was parsed. */
  at: number;
}

export interface SseStream {
  status: number;
  headers: Headers;
  events: SseEvent[];
  /** Resolves when the server ends the stream (or it is closed or dropped). */
  ended: Promise<void>;
  /** Resolves with the first event (already received or still to come) matching `pred`. */
  waitFor(pred: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  close(): void;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  const ctrl = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: ctrl.signal });
  const events: SseEvent[] = [];
  const waiters = new Set<() => void>();
  let ended: Promise<void> = Promise.resolve();
  if (res.ok && res.body) {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    ended = (async () => {
      const parser = new SseParser();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          for (const m of parser.push(decoder.decode(value, { stream: true }))) {
            events.push({ ...m, at: performance.now() });
            for (const w of [...waiters]) w();
          }
        }
      } catch {
        /* aborted or dropped */
      }
    })();
  }
  return {
    status: res.status,
    headers: res.headers,
    events,
    ended,
    waitFor(pred, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = events.find(pred);
          if (!hit) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching event within ${timeoutMs} ms; got ${events.map((e) => e.event).join(',') || 'none'}`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    close: () => ctrl.abort(),
  };
}

/** Matches the web app's `status` event (GET /authy/status) saying `status`. */
export function statusEvent(status: string): (e: SseEvent) => boolean {
  return (e) => e.event === 'status' && (JSON.parse(e.data) as { status: string }).status === status;
}
