// Markdown of the model's answers as Preact elements: never HTML from the text, so an answer can
// not inject markup. Fenced code (with a small highlighter), inline code, bold, italics,
// headings, lists, links (http and https only) and paragraphs; the rest is plain text.
import type { ComponentChild } from 'preact';

const KEYWORDS = new Set(
  ('if else for while do return function const let var class struct def import from export new delete ' +
    'try catch throw switch case break continue public private static void int float double bool char ' +
    'auto template typename namespace using true false null None True False self this async await fn pub mut impl')
    .split(' '),
);

// Strings, comments, numbers and keywords of most C-like and scripting languages.
export function highlight(code: string): ComponentChild[] {
  const out: ComponentChild[] = [];
  const re = /(\/\/[^\n]*|#[^\n]*|\/\*[\s\S]*?\*\/)|("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)|(\b\d+(?:\.\d+)?\b)|([A-Za-z_]\w*)/g;
  let last = 0;
  for (let m = re.exec(code); m; m = re.exec(code)) {
    if (m.index > last) out.push(code.slice(last, m.index));
    const cls = m[1] ? 'tok-comment' : m[2] ? 'tok-string' : m[3] ? 'tok-number' : KEYWORDS.has(m[4]) ? 'tok-keyword' : '';
    out.push(cls ? <span class={cls}>{m[0]}</span> : m[0]);
    last = m.index + m[0].length;
  }
  if (last < code.length) out.push(code.slice(last));
  return out;
}

function inline(text: string): ComponentChild[] {
  const out: ComponentChild[] = [];
  const re = /`([^`]+)`|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*|\[([^\]]+)\]\((https?:\/\/[^)\s]+)\)/g;
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1] !== undefined) out.push(<code>{m[1]}</code>);
    else if (m[2] !== undefined) out.push(<strong>{m[2]}</strong>);
    else if (m[3] !== undefined) out.push(<em>{m[3]}</em>);
    else out.push(<a href={m[5]} rel="noopener noreferrer" target="_blank">{m[4]}</a>);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

export function Markdown({ text }: { text: string }) {
  const blocks: ComponentChild[] = [];
  const lines = text.split('\n');
  let para: string[] = [];
  let list: { ordered: boolean; items: string[] } | null = null;
  const flush = () => {
    if (para.length) blocks.push(<p>{inline(para.join('\n'))}</p>);
    para = [];
    if (list) {
      const items = list.items.map((i) => <li>{inline(i)}</li>);
      blocks.push(list.ordered ? <ol>{items}</ol> : <ul>{items}</ul>);
    }
    list = null;
  };
  for (let i = 0; i < lines.length; ++i) {
    const line = lines[i];
    const fence = line.match(/^```\s*([\w+-]*)/);
    if (fence) {
      flush();
      const code: string[] = [];
      for (++i; i < lines.length && !lines[i].startsWith('```'); ++i) code.push(lines[i]);
      const body = code.join('\n');
      blocks.push(
        <div class="code">
          <div class="code-bar">
            <span>{fence[1] || 'code'}</span>
            <button type="button" class="small" onClick={() => navigator.clipboard?.writeText(body)}>Copy code</button>
          </div>
          <pre><code>{highlight(body)}</code></pre>
        </div>,
      );
      continue;
    }
    const heading = line.match(/^(#{1,4})\s+(.*)/);
    const bullet = line.match(/^\s*[-*]\s+(.*)/);
    const numbered = line.match(/^\s*\d+[.)]\s+(.*)/);
    if (heading) {
      flush();
      blocks.push(<p class={`h h${heading[1].length}`}><strong>{inline(heading[2])}</strong></p>);
    } else if (bullet || numbered) {
      const ordered = !!numbered;
      if (para.length || (list && list.ordered !== ordered)) flush();
      list ??= { ordered, items: [] };
      list.items.push((bullet ?? numbered)![1]);
    } else if (!line.trim()) {
      flush();
    } else {
      if (list) flush();
      para.push(line);
    }
  }
  flush();
  return <div class="md">{blocks}</div>;
}
