// Building DOM without HTML strings: h('button', {testid: 'send', onclick: fn}, 'Send').
// Text always goes in as text nodes, so nothing the gateway or a model says is parsed as markup,
// and no style attribute is ever written (the page's CSP forbids inline styles).

// props: class, id, text, testid (data-testid), value (the property), on<event> handlers, and
// anything else as an attribute (true: present, false/null/undefined: absent; so `checked` and
// `selected` are the defaults a form reset returns to). Children: nodes, strings, numbers,
// arrays of those; null and false are skipped.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'style') throw new Error('inline styles are forbidden by the CSP');
    if (name === 'class') el.className = value;
    else if (name === 'text') el.textContent = value;
    else if (name === 'testid') el.dataset.testid = value;
    else if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (name === 'value') el.value = value;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// A labelled form field: <label for=id>text</label> beside the control (which must have an id).
export function field(text, control, hint) {
  return h(
    'div',
    { class: 'field' },
    h('label', { for: control.id }, text),
    control,
    hint ? h('small', { class: 'hint' }, hint) : null,
  );
}

// A table from column definitions {title, value(row) -> node|string, class?}; rowProps(row)
// gives each <tr>'s props (testid, data-id, class). `scroll`: a long table scrolls in its box.
export function table(columns, rows, { testid, rowProps, scroll = false, empty = 'Nothing yet.' } = {}) {
  const head = h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.class }, c.title)));
  const body = rows.length
    ? rows.map((r) => h('tr', rowProps?.(r) ?? {}, columns.map((c) => h('td', { class: c.class }, c.value(r)))))
    : h('tr', {}, h('td', { colspan: columns.length, class: 'empty' }, empty));
  return h('div', { class: scroll ? 'table-wrap scroll' : 'table-wrap' }, h('table', { testid }, h('thead', {}, head), h('tbody', {}, body)));
}

// Puts a new table (from table()) in place of the one in `container`, keeping where the reader
// had scrolled it: live tables are rebuilt every few seconds.
export function replaceTable(container, wrap) {
  const old = container.querySelector('.table-wrap');
  container.replaceChildren(wrap);
  if (old) {
    wrap.scrollTop = old.scrollTop;
    wrap.scrollLeft = old.scrollLeft;
  }
}

// A notice line: kind is 'info', 'warn' or 'error'.
export function notice(kind, text, testid) {
  return h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status', testid }, text);
}

// Asks a yes/no question in a modal <dialog>; resolves true when confirmed.
export function confirmDialog(message, okText = 'Confirm') {
  return new Promise((resolve) => {
    const dialog = h(
      'dialog',
      { class: 'confirm', testid: 'confirm-dialog', 'aria-label': 'Confirm' },
      h(
        'form',
        { method: 'dialog' },
        h('p', {}, message),
        h(
          'div',
          { class: 'actions' },
          h('button', { value: 'cancel', testid: 'confirm-cancel', class: 'secondary' }, 'Cancel'),
          h('button', { value: 'ok', testid: 'confirm-ok', class: 'danger' }, okText),
        ),
      ),
    );
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'ok');
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// Offers `text` as a file download through a Blob URL.
export function download(filename, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// Copies text to the clipboard; resolves false when the browser refuses.
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}
