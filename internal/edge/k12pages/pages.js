// Shared by the parents' pages: element lookup, the status line, and the JSON API
// whose errors carry a message meant for the parent.
const $ = (id) => document.getElementById(id);
const yuan = (fen) => '¥' + (fen / 100).toFixed(2);

function say(text, ok) {
  const s = $('status');
  s.textContent = text;
  s.className = 'status ' + (ok ? 'ok' : 'err');
}

async function call(method, path, body) {
  const r = await fetch(path, { method, headers: { 'Content-Type': 'application/json' }, body: body && JSON.stringify(body) });
  const v = await r.json();
  if (!r.ok) throw new Error(v.message || r.statusText);
  return v;
}
