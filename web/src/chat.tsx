// The chat: conversations kept by the server (listed, searched, renamed, deleted), answers
// streamed over the WebSocket, stop, regenerate, edit-and-resend, copy, and each conversation's
// system prompt and sampling settings.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ChatSocket, type Citation, type Conversation, type ServerMessage, type Settings } from './api';
import { Documents, type RagChoice } from './documents';
import { Markdown } from './markdown';

interface Msg {
  role: 'user' | 'assistant';
  content: string;
  note?: string;
  citations?: Citation[];
}

export function Chat({ id, go }: { id: string; go: (id: string) => void }) {
  const [list, setList] = useState<Conversation[]>([]);
  const [query, setQuery] = useState('');
  const [conv, setConv] = useState<Conversation | null>(null);
  const [msgs, setMsgs] = useState<Msg[]>([]);
  const [draft, setDraft] = useState('');
  const [streaming, setStreaming] = useState(false);
  const [error, setError] = useState('');
  const [info, setInfo] = useState({ model: '', maxMessages: 0, online: false, sse: false, rag: false });
  const [rag, setRag] = useState<RagChoice>({ collection: '', on: false });
  const [editing, setEditing] = useState<number | null>(null);
  const [showSettings, setShowSettings] = useState(false);
  const [models, setModels] = useState<string[]>([]);
  const [picked, setPicked] = useState('');
  const socket = useRef<ChatSocket | null>(null);
  const maxMessages = useRef(0);  // onMessage is the first render's closure: state would be stale there
  const current = useRef(id);
  current.current = id;

  const refresh = (q = query) =>
    api<{ data: Conversation[] }>(`/v1/conversations?q=${encodeURIComponent(q)}`)
      .then((r) => setList(r.data))
      .catch((e) => setError(String(e.message)));

  // A conversation begun by this page's turn gets its title and settings once the turn ends.
  const loadConv = () => {
    if (current.current) api<Conversation>(`/v1/conversations/${current.current}`).then(setConv, () => {});
  };

  const onMessage = (m: ServerMessage) => {
    if (m.type === 'ready') {
      maxMessages.current = m.max_messages;
      setInfo((i) => ({ ...i, model: m.model, maxMessages: m.max_messages, rag: m.rag }));
    }
    else if (m.type === 'conversation') {
      current.current = m.id;
      go(m.id);
      refresh();
    } else if (m.type === 'start' && m.dropped > 0) {
      setMsgs((ms) => withLast(ms, { note: `${m.dropped} older message(s) were left out: this server sends at most ${maxMessages.current} messages to the model` }));
    } else if (m.type === 'token') setMsgs((ms) => withLast(ms, { content: (ms[ms.length - 1]?.content ?? '') + m.text }));
    else if (m.type === 'done') {
      setStreaming(false);
      loadConv();
      if (m.citations) setMsgs((ms) => withLast(ms, { citations: m.citations }));
      if (m.finish_reason === 'stopped') setMsgs((ms) => withLast(ms, { note: 'Stopped' }));
      else if (m.finish_reason === 'length') setMsgs((ms) => withLast(ms, { note: 'Cut at the token limit' }));
      refresh();
    } else if (m.type === 'error') {
      setStreaming(false);
      loadConv();
      setError(m.message);
    }
  };

  useEffect(() => {
    socket.current = new ChatSocket((m) => onMessage(m), (online, sse) => setInfo((i) => ({ ...i, online, sse })));
    socket.current.connect();
    refresh();
    api<{ data: { id: string }[] }>('/v1/models').then((r) => setModels(r.data.map((m) => m.id)), () => {});
  }, []);

  useEffect(() => {
    // The conversation begun by this page's turn keeps the model picked for it (the server stores
    // it with the conversation); any other one shows its own, else the server's.
    if (id && streaming) return;  // the new conversation's messages are already on screen
    setPicked('');
    if (!id) {
      setConv(null);
      setMsgs([]);
      return;
    }
    api<Conversation>(`/v1/conversations/${id}`)
      .then((c) => {
        setConv(c);
        setMsgs((c.messages ?? []).map((m) => ({ role: m.role as Msg['role'], content: m.content, citations: m.citations })));
      })
      .catch((e) => setError(String(e.message)));
  }, [id]);

  const start = (content: string, keep?: number) => {
    setError('');
    const settings: Settings = { ...(conv?.settings ?? {}), ...(model ? { model } : {}) };
    const kept = keep === undefined ? msgs : msgs.slice(0, keep);
    setMsgs([...kept, ...(content ? [{ role: 'user' as const, content }] : []), { role: 'assistant', content: '' }]);
    setStreaming(true);
    const retrieval = rag.on && rag.collection ? { rag: { collection: rag.collection } } : {};
    socket.current!.send({ type: 'start', conversation_id: current.current || undefined, content, keep, ...settings, ...retrieval });
  };

  const send = (e: Event) => {
    e.preventDefault();
    const text = draft.trim();
    if (!text || streaming) return;
    setDraft('');
    start(text);
  };

  const saveSettings = async (patch: Partial<Conversation>) => {
    if (!conv) return;
    setConv(await api<Conversation>(`/v1/conversations/${conv.id}`, { method: 'PATCH', body: JSON.stringify(patch) }));
    refresh();
  };

  // The picker's choice (kept in the open conversation's settings too), else the conversation's own,
  // else the server's model.
  const model = picked || conv?.settings?.model || '';
  const pick = (m: string) => {
    setPicked(m);
    if (conv) saveSettings({ settings: { ...(conv.settings ?? {}), model: m } });
  };

  const lastAssistant = msgs.map((m) => m.role).lastIndexOf('assistant');
  return (
    <div class="chat">
      <aside class="sidebar" aria-label="Conversations">
        <button type="button" onClick={() => go('')}>New chat</button>
        <label class="field">
          Search conversations
          <input type="search" value={query} onInput={(e) => { const q = (e.target as HTMLInputElement).value; setQuery(q); refresh(q); }} />
        </label>
        <ul class="conversations">
          {list.map((c) => (
            <li key={c.id}>
              <a href={`#/chat/${c.id}`} aria-current={c.id === id ? 'page' : undefined}>{c.title || 'Untitled'}</a>
            </li>
          ))}
        </ul>
        {info.rag && <Documents choice={rag} setChoice={setRag} />}
      </aside>
      <section class="main" aria-label="Chat">
        <header class="chat-head">
          <span>{info.model ? `Model: ${info.model}` : 'Connecting…'}{info.online ? '' : ' (offline)'}{info.sse ? ' (streaming over SSE)' : ''}</span>
          {conv && (
            <span class="actions">
              <button type="button" class="small" onClick={() => { const t = prompt('New title', conv.title); if (t) saveSettings({ title: t }); }}>Rename</button>
              <button type="button" class="small" onClick={() => setShowSettings(!showSettings)} aria-expanded={showSettings}>Settings</button>
              <button type="button" class="small" onClick={async () => { if (confirm('Delete this conversation?')) { await api(`/v1/conversations/${conv.id}`, { method: 'DELETE' }); go(''); refresh(); } }}>Delete</button>
            </span>
          )}
        </header>
        {conv && showSettings && <SettingsForm conv={conv} save={saveSettings} />}
        <div class="log" role="log" aria-live="polite" aria-label="Messages">
          {msgs.map((m, i) => (
            <article class={`msg ${m.role}`} key={i} aria-label={m.role === 'user' ? 'You' : 'Assistant'}>
              {editing === i ? (
                <EditBox text={m.content} cancel={() => setEditing(null)} save={(t) => { setEditing(null); start(t, i); }} />
              ) : m.role === 'assistant' ? <Markdown text={m.content} /> : <p class="plain">{m.content}</p>}
              {m.citations && <Sources citations={m.citations} />}
              {m.note && <p class="note">{m.note}</p>}
              {!streaming && editing !== i && (
                <div class="msg-actions">
                  <button type="button" class="small" onClick={() => navigator.clipboard?.writeText(m.content)}>Copy</button>
                  {m.role === 'user' && <button type="button" class="small" onClick={() => setEditing(i)}>Edit</button>}
                  {m.role === 'assistant' && i === lastAssistant && <button type="button" class="small" onClick={() => start('', i)}>Regenerate</button>}
                </div>
              )}
            </article>
          ))}
        </div>
        {error && <p class="error" role="alert">{error}</p>}
        <form class="composer" onSubmit={send}>
          <label class="field grow">
            Message
            <textarea value={draft} rows={2} onInput={(e) => setDraft((e.target as HTMLTextAreaElement).value)}
              onKeyDown={(e) => { if (e.key === 'Enter' && !e.shiftKey) send(e); }} />
          </label>
          {models.length > 0 && (
            <label class="field">
              Model to answer
              <select value={model || models[0]} onChange={(e) => pick((e.target as HTMLSelectElement).value)}>
                {models.map((m) => <option key={m} value={m}>{m}</option>)}
              </select>
            </label>
          )}
          {streaming ? <button type="button" onClick={() => socket.current!.send({ type: 'stop' })}>Stop</button>
            : <button type="submit">Send</button>}
        </form>
      </section>
    </div>
  );
}

function Sources({ citations }: { citations: Citation[] }) {
  if (!citations.length) return <p class="note">No document matched the question.</p>;
  return (
    <details class="sources">
      <summary>Sources ({citations.length})</summary>
      <ol>
        {citations.map((c) => (
          <li key={c.index} value={c.index}>
            <strong>{c.document_id}</strong>{c.section ? ` — ${c.section}` : ''} <span class="note">(score {c.score.toFixed(2)})</span>
            <blockquote>{c.text}</blockquote>
          </li>
        ))}
      </ol>
    </details>
  );
}

function withLast(ms: Msg[], patch: Partial<Msg>): Msg[] {
  if (!ms.length) return ms;
  return [...ms.slice(0, -1), { ...ms[ms.length - 1], ...patch }];
}

function EditBox({ text, save, cancel }: { text: string; save: (t: string) => void; cancel: () => void }) {
  const [value, setValue] = useState(text);
  return (
    <form onSubmit={(e) => { e.preventDefault(); if (value.trim()) save(value.trim()); }}>
      <label class="field">Edit message<textarea value={value} onInput={(e) => setValue((e.target as HTMLTextAreaElement).value)} /></label>
      <button type="submit" class="small">Send edited</button> <button type="button" class="small" onClick={cancel}>Cancel</button>
    </form>
  );
}

function SettingsForm({ conv, save }: { conv: Conversation; save: (p: Partial<Conversation>) => void }) {
  const [system, setSystem] = useState(conv.system_prompt);
  const [s, setS] = useState<Settings>(conv.settings ?? {});
  const num = (v: string) => (v === '' ? undefined : Number(v));
  return (
    <form class="settings" onSubmit={(e) => { e.preventDefault(); save({ system_prompt: system, settings: s }); }}>
      <label class="field">System prompt<textarea value={system} onInput={(e) => setSystem((e.target as HTMLTextAreaElement).value)} /></label>
      <label class="field">Temperature<input type="number" min="0" max="2" step="0.1" value={s.temperature ?? ''} onInput={(e) => setS({ ...s, temperature: num((e.target as HTMLInputElement).value) })} /></label>
      <label class="field">Max tokens<input type="number" min="1" value={s.max_tokens ?? ''} onInput={(e) => setS({ ...s, max_tokens: num((e.target as HTMLInputElement).value) })} /></label>
      <label class="check"><input type="checkbox" checked={s.response_format?.type === 'json_object'} onChange={(e) => setS({ ...s, response_format: (e.target as HTMLInputElement).checked ? { type: 'json_object' } : undefined })} /> JSON mode</label>
      <button type="submit">Save settings</button>
    </form>
  );
}
