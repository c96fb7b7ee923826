// The server's HTTP API and WebSocket, as the page calls them. The API key (when the server has
// keys) is kept in this browser's localStorage and sent as a bearer token, or as the socket's
// first message.
import { SseChat } from './sse';

const KEY = 'hayate.key';
export const apiKey = { get: () => localStorage.getItem(KEY) ?? '', set: (k: string) => localStorage.setItem(KEY, k) };

export class HttpError extends Error {
  constructor(public status: number, message: string) {
    super(message);
  }
}

export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  const key = apiKey.get();
  if (key) headers.Authorization = `Bearer ${key}`;
  const r = await fetch(path, { ...init, headers: { ...headers, ...(init.headers as Record<string, string>) } });
  const text = await r.text();
  if (!r.ok) {
    let message = text;
    try {
      message = JSON.parse(text).error?.message ?? text;
    } catch {}
    throw new HttpError(r.status, message);
  }
  return (path === '/metrics' ? text : JSON.parse(text)) as T;
}

export interface Conversation {
  id: string;
  title: string;
  system_prompt: string;
  settings: Settings;
  created: number;
  updated: number;
  message_count: number;
  messages?: { role: string; content: string; citations?: Citation[] }[];
}

export interface Settings {
  temperature?: number;
  max_tokens?: number;
  top_p?: number;
  model?: string;
  response_format?: { type: string };
}

export interface Citation {
  index: number;
  document_id: string;
  section: string;
  score: number;
  text: string;
}

export type ServerMessage =
  | { type: 'ready'; model: string; max_messages: number; rag: boolean }
  | { type: 'conversation'; id: string; title: string }
  | { type: 'start'; id: string; conversation_id: string; dropped: number }
  | { type: 'token'; text: string }
  | { type: 'done'; conversation_id: string; finish_reason: string; usage: { completion_tokens?: number } | null; citations?: Citation[] }
  | { type: 'error'; message: string; code: string };

// One socket, reopened when it drops; messages go to `onMessage`. A socket that closes before the
// server's ready message never reached the server: from then on the page chats over SSE.
export class ChatSocket {
  private ws: WebSocket | null = null;
  private queue: string[] = [];
  private reached = false;
  private sse: SseChat | null = null;
  constructor(private onMessage: (m: ServerMessage) => void, private onState: (open: boolean, sse: boolean) => void) {}

  private open(): WebSocket {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) return this.ws;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}/v1/ws`);
    ws.onopen = () => {
      const key = apiKey.get();
      if (key) ws.send(JSON.stringify({ type: 'auth', key }));
      for (const m of this.queue.splice(0)) ws.send(m);
      this.onState(true, false);
    };
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data as string) as ServerMessage;
      if (m.type === 'ready') this.reached = true;
      this.onMessage(m);
    };
    ws.onclose = () => {
      this.ws = null;
      if (!this.reached && !this.sse) this.fallBack();
      else this.onState(false, false);
    };
    this.ws = ws;
    return ws;
  }

  private fallBack() {
    this.sse = new SseChat(this.onMessage);
    this.onState(true, true);
    void this.sse.ready();
    for (const m of this.queue.splice(0)) this.sse.send(JSON.parse(m));
  }

  connect() {
    this.open();
  }

  send(message: Record<string, unknown>) {
    if (this.sse) return this.sse.send(message);
    const ws = this.open();
    const text = JSON.stringify(message);
    if (ws.readyState === WebSocket.OPEN) ws.send(text);
    else this.queue.push(text);
  }
}
