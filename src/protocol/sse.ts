/** One server-sent event: its type (`message` when unnamed), its data lines joined, its id field. */
export interface SseMessage {
  event: string;
  data: string;
  id: string | undefined;
}

/**
 * An incremental parser of a `text/event-stream` body (the WHATWG "event stream" format): feed
 * it decoded text as it arrives, in chunks of any size, and it returns the whole events. Lines end
 * in LF, CRLF or CR (a CR at a chunk's end waits for the next chunk); comments are skipped; a
 * block without data dispatches nothing but its `id` still sets `lastEventId`, for reconnecting.
 * The service, the CLI, the PWA and the tests all read streams with it.
 */
export class SseParser {
  private buffer = '';
  private pendingCr = false;
  lastEventId: string | undefined;

  push(chunk: string): SseMessage[] {
    let text = (this.pendingCr ? '\r' : '') + chunk;
    this.pendingCr = text.endsWith('\r');
    if (this.pendingCr) text = text.slice(0, -1);
    this.buffer += text.replace(/\r\n?/g, '\n');
    const out: SseMessage[] = [];
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const m = this.parseBlock(block);
      if (m) out.push(m);
    }
    return out;
  }

  private parseBlock(block: string): SseMessage | undefined {
    let event = 'message';
    let id: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id' && !value.includes('\0')) id = value;
    }
    if (id !== undefined) this.lastEventId = id;
    return data.length ? { event, data: data.join('\n'), id } : undefined;
  }
}
