// Documents for retrieval (shown only when the server has collections, /v1/collections): pick or
// create a collection, upload text files into it, and answer from it; the answer's sources are
// listed under it.
import { useEffect, useState } from 'preact/hooks';
import { api } from './api';

export interface RagChoice {
  collection: string;
  on: boolean;
}

interface CollectionInfo { id: string; documents: number }

export function Documents({ choice, setChoice }: { choice: RagChoice; setChoice: (c: RagChoice) => void }) {
  const [collections, setCollections] = useState<CollectionInfo[]>([]);
  const [name, setName] = useState('');
  const [status, setStatus] = useState('');
  const load = () => api<{ data: CollectionInfo[] }>('/v1/collections').then((r) => {
    setCollections(r.data);
    if (!choice.collection && r.data.length) setChoice({ ...choice, collection: r.data[0].id });
  }).catch((e) => setStatus(String(e.message)));
  useEffect(() => { load(); }, []);

  const create = async (e: Event) => {
    e.preventDefault();
    try {
      await api('/v1/collections', { method: 'POST', body: JSON.stringify({ name }) });
      setChoice({ ...choice, collection: name });
      setName('');
      load();
    } catch (err) {
      setStatus((err as Error).message);
    }
  };

  const upload = async (files: FileList | null) => {
    if (!files?.length || !choice.collection) return;
    setStatus('Uploading…');
    try {
      const documents = await Promise.all([...files].map(async (f) => ({ id: f.name, text: await f.text() })));
      await api(`/v1/collections/${choice.collection}/documents`, { method: 'POST', body: JSON.stringify({ documents }) });
      setStatus(`Added ${documents.map((d) => d.id).join(', ')} to ${choice.collection}`);
      load();
    } catch (err) {
      setStatus((err as Error).message);
    }
  };

  return (
    <section class="documents" aria-label="Documents">
      <h2>Documents</h2>
      <label class="field">Collection
        <select value={choice.collection} onChange={(e) => setChoice({ ...choice, collection: (e.target as HTMLSelectElement).value })}>
          {collections.map((c) => <option value={c.id}>{c.id} ({c.documents})</option>)}
        </select>
      </label>
      <form onSubmit={create}>
        <label class="field">New collection<input value={name} pattern="[A-Za-z0-9_\-]{1,64}" onInput={(e) => setName((e.target as HTMLInputElement).value)} /></label>
        <button type="submit" class="small">Create</button>
      </form>
      <label class="field">Upload text files
        <input type="file" multiple accept=".txt,.md,text/plain,text/markdown" disabled={!choice.collection} onChange={(e) => upload((e.target as HTMLInputElement).files)} />
      </label>
      <label class="check"><input type="checkbox" checked={choice.on} disabled={!choice.collection} onChange={(e) => setChoice({ ...choice, on: (e.target as HTMLInputElement).checked })} /> Answer from these documents</label>
      {status && <p class="note" role="status">{status}</p>}
    </section>
  );
}
