// Server-sent events (the WHATWG "event stream" format) read from a fetch() body: bytes in,
// events out. Only what the chat stream needs: `data:` lines joined by newlines, `event:` names,
// comments ignored; an event ends at a blank line.

export class SseParser {
  constructor() {
    this.decoder = new TextDecoder();
    this.buffer = '';
    this.data = [];
    this.event = '';
  }

  // Feeds a chunk of bytes (or null at the end); returns the events it completed:
  // [{event, data}].
  push(bytes) {
    this.buffer += bytes ? this.decoder.decode(bytes, { stream: true }) : this.decoder.decode();
    const events = [];
    let nl;
    while ((nl = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      // A lone \r at the end of the buffer may be the first half of \r\n: wait for more.
      if (this.buffer[nl] === '\r' && nl === this.buffer.length - 1 && bytes) break;
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + (this.buffer.startsWith('\r\n', nl) ? 2 : 1));
      this.line(line, events);
    }
    if (!bytes) {
      if (this.buffer) this.line(this.buffer, events);
      this.buffer = '';
      this.line('', events);
    }
    return events;
  }

  line(line, events) {
    if (line === '') {
      if (this.data.length) events.push({ event: this.event || 'message', data: this.data.join('\n') });
      this.data = [];
      this.event = '';
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
  }
}

// Reads `response.body` to the end, calling onEvent({event, data}) for each event. When
// onEvent throws, the body is cancelled (the connection closes) and the error propagates.
export async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const parser = new SseParser();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      for (const e of parser.push(done ? null : value)) onEvent(e);
      if (done) return;
    }
  } catch (e) {
    reader.cancel().catch(() => {});
    throw e;
  }
}
