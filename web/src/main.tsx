// hayate serve's page: the chat, the dashboard and the benchmark, chosen by the URL's hash
// (#/chat/ID, #/dashboard, #/bench) so that a reload comes back to the same place. Asks for an API key when the
// server answers 401.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, apiKey, HttpError } from './api';
import { Bench } from './bench';
import { Chat } from './chat';
import { Dashboard } from './dashboard';
import './style.css';

function route() {
  const [, page = 'chat', id = ''] = location.hash.replace(/^#/, '').split('/');
  return { page, id };
}

function KeyForm({ done }: { done: () => void }) {
  const [key, setKey] = useState('');
  return (
    <form class="keyform" onSubmit={(e) => { e.preventDefault(); apiKey.set(key.trim()); done(); }}>
      <p>This server needs an API key.</p>
      <label class="field">API key<input type="password" value={key} autocomplete="off" onInput={(e) => setKey((e.target as HTMLInputElement).value)} /></label>
      <button type="submit">Use this key</button>
    </form>
  );
}

function App() {
  const [r, setR] = useState(route());
  const [needKey, setNeedKey] = useState<boolean | null>(null);
  useEffect(() => {
    const onHash = () => setR(route());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  const probe = () =>
    api('/v1/models').then(() => setNeedKey(false)).catch((e) => setNeedKey(e instanceof HttpError && e.status === 401));
  useEffect(() => { probe(); }, []);
  const go = (id: string) => { location.hash = id ? `#/chat/${id}` : '#/chat'; };
  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <nav class="top" aria-label="Pages">
        <span class="brand">hayate</span>
        <a href="#/chat" aria-current={r.page === 'chat' ? 'page' : undefined}>Chat</a>
        <a href="#/dashboard" aria-current={r.page === 'dashboard' ? 'page' : undefined}>Dashboard</a>
        <a href="#/bench" aria-current={r.page === 'bench' ? 'page' : undefined}>Benchmark</a>
      </nav>
      <main id="main">
        {needKey ? <KeyForm done={() => { setNeedKey(null); probe(); }} />
          : needKey === null ? <p>Loading…</p>
          : r.page === 'dashboard' ? <Dashboard /> : r.page === 'bench' ? <Bench /> : <Chat id={r.id} go={go} />}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
