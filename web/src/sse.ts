// The chat without a WebSocket (a proxy that refuses upgrades, a blocked port): each turn goes to
// POST /v1/conversations/{id}/messages, which keeps the user's message and returns the chat
// request, streamed over /v1/chat/completions with SSE; the answer is then kept the same way. The
// page sees the same messages as from the socket (ready, conversation, start, token, done, error).
import { api, apiKey, HttpError, type Citation, type Conversation, type ServerMessage } from './api';

interface Turn { conversation_id: string; dropped: number; request: object }

export class SseChat {
  private abort: AbortController | null = null;
  constructor(private onMessage: (m: ServerMessage) => void) {}

  async ready() {
    const models = await api<{ data: { id: string }[] }>('/v1/models').catch(() => ({ data: [] }));
    const rag = await api('/v1/collections').then(() => true, () => false);
    this.onMessage({ type: 'ready', model: models.data[0]?.id ?? '', max_messages: 0, rag });
  }

  send(m: Record<string, unknown>) {
    if (m.type === 'stop') this.abort?.abort();
    else if (m.type === 'start') this.turn(m).catch((e) => this.onMessage({ type: 'error', message: String(e.message), code: e instanceof HttpError ? String(e.status) : 'sse' }));
  }

  private async turn(m: Record<string, unknown>) {
    const { type: _type, conversation_id, ...rest } = m;
    let id = (conversation_id as string) ?? '';
    if (!id) {
      const title = String(m.content ?? '').slice(0, 60);
      // Created with the start's settings, as the WebSocket does: a model picked before the first message stays.
      const kept = ['model', 'temperature', 'top_p', 'max_tokens', 'seed', 'response_format', 'stop'];
      const settings = Object.fromEntries(Object.entries(rest).filter(([k, v]) => kept.includes(k) && v != null));
      const body = { title, system_prompt: String(m.system ?? ''), settings };
      id = (await api<Conversation>('/v1/conversations', { method: 'POST', body: JSON.stringify(body) })).id;
      this.onMessage({ type: 'conversation', id, title });
    }
    const messages = `/v1/conversations/${id}/messages`;
    const turn = await api<Turn>(messages, { method: 'POST', body: JSON.stringify({ ...rest, role: 'user' }) });
    this.onMessage({ type: 'start', id: '', conversation_id: id, dropped: turn.dropped });
    this.abort = new AbortController();
    const answer = await this.stream(turn.request, this.abort.signal);
    this.abort = null;
    if (answer.text)
      await api(messages, { method: 'POST', body: JSON.stringify({ role: 'assistant', content: answer.text, citations: answer.citations }) });
    this.onMessage({ type: 'done', conversation_id: id, finish_reason: answer.finish, usage: answer.usage, citations: answer.citations });
  }

  private async stream(request: object, signal: AbortSignal) {
    const out = { text: '', finish: 'stopped', usage: null as { completion_tokens?: number } | null, citations: undefined as Citation[] | undefined };
    const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'text/event-stream' };
    if (apiKey.get()) headers.Authorization = `Bearer ${apiKey.get()}`;
    const r = await fetch('/v1/chat/completions', { method: 'POST', headers, body: JSON.stringify(request), signal });
    if (!r.ok || !r.body) {
      const text = await r.text();
      let message = text;
      try { message = JSON.parse(text).error?.message ?? text; } catch {}
      throw new HttpError(r.status, message);
    }
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = event.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('');
          if (!data || data === '[DONE]') continue;
          const chunk = JSON.parse(data);
          if (chunk.error) throw new Error(chunk.error.message ?? 'the stream ended with an error');
          const choice = chunk.choices?.[0];
          if (choice?.delta?.content) {
            out.text += choice.delta.content;
            this.onMessage({ type: 'token', text: choice.delta.content });
          }
          if (choice?.finish_reason) out.finish = choice.finish_reason;
          if (chunk.usage) out.usage = chunk.usage;
          if (chunk.citations) out.citations = chunk.citations;
        }
      }
    } catch (e) {
      if (!signal.aborted) throw e;  // a stop keeps what came so far, as over the socket
    }
    return out;
  }
}
