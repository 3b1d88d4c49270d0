// The form that creates a virtual key (POST /admin/keys) or edits one (PATCH /admin/keys/{id}):
// name, models, rpm, tpm, max_parallel, budget {usd, period}, expires_at, metadata owner/team.
import { field, h } from './dom.js';
import * as fmt from './format.js';

const PERIODS = ['day', 'week', 'month', 'total'];

// onSubmit(body, key) is called with the JSON body to send and the key being edited (or null);
// it resolves with an error message to show, or '' when done.
export function createKeyForm({ onSubmit }) {
  let editing = null; // the key being edited, or null when creating
  let models = []; // model names offered as checkboxes

  const input = (id, attrs = {}) => h('input', { id, testid: id, ...attrs });
  const limit = (id) => input(id, { type: 'number', min: 1, step: 1, placeholder: 'no limit' });
  const name = input('key-name', { type: 'text', required: true, maxlength: 200, autocomplete: 'off' });
  const rpm = limit('key-rpm');
  const tpm = limit('key-tpm');
  const parallel = limit('key-max-parallel');
  const usd = input('key-budget-usd', { type: 'number', min: 0, step: 'any', placeholder: 'no budget' });
  const period = h(
    'select',
    { id: 'key-budget-period', testid: 'key-budget-period' },
    PERIODS.map((p) => h('option', { value: p, selected: p === 'month' }, p)),
  );
  const expires = input('key-expires-at', { type: 'datetime-local' });
  const owner = input('key-owner', { type: 'text', autocomplete: 'off' });
  const team = input('key-team', { type: 'text', autocomplete: 'off' });
  const modelBoxes = h('div', { class: 'checks', testid: 'key-models' });
  const title = h('h2', { id: 'key-form-title' }, 'Create a key');
  const error = h('p', { class: 'notice error', testid: 'key-form-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', testid: 'key-submit' }, 'Create key');
  const cancel = h('button', { type: 'button', class: 'secondary', testid: 'key-cancel', hidden: true, onclick: () => reset() }, 'Cancel');

  const el = h(
    'form',
    { class: 'panel key-form', testid: 'key-form', 'aria-labelledby': 'key-form-title', onsubmit: submitted },
    title,
    h(
      'div',
      { class: 'grid' },
      field('Name', name),
      h('fieldset', { class: 'field wide' }, h('legend', {}, 'Models'), modelBoxes, h('small', { class: 'hint' }, 'None ticked: every model.')),
      field('Requests per minute', rpm),
      field('Tokens per minute', tpm),
      field('Parallel requests', parallel),
      field('Budget (USD)', usd),
      field('Budget period', period),
      field('Expires', expires, 'Empty: never.'),
      field('Owner', owner),
      field('Team', team),
    ),
    error,
    h('div', { class: 'actions' }, submit, cancel),
  );

  function renderModels(ticked = []) {
    const names = [...new Set([...models, ...ticked])];
    modelBoxes.replaceChildren(
      ...names.map((m) =>
        h(
          'label',
          { class: 'check' },
          h('input', { type: 'checkbox', value: m, testid: 'key-model', 'data-model': m, checked: ticked.includes(m) }),
          ` ${m}`,
        ),
      ),
    );
    if (!names.length) modelBoxes.append(h('span', { class: 'muted small' }, 'No models configured.'));
  }

  function setModels(list) {
    const ticked = [...modelBoxes.querySelectorAll('input:checked')].map((i) => i.value);
    models = list;
    renderModels(ticked);
  }

  function reset() {
    editing = null;
    el.reset();
    title.textContent = 'Create a key';
    submit.textContent = 'Create key';
    cancel.hidden = true;
    error.hidden = true;
    renderModels();
  }

  function edit(key) {
    reset();
    editing = key;
    title.textContent = `Edit key “${key.name}”`;
    submit.textContent = 'Save changes';
    cancel.hidden = false;
    name.value = key.name;
    rpm.value = key.rpm ?? '';
    tpm.value = key.tpm ?? '';
    parallel.value = key.max_parallel ?? '';
    usd.value = key.budget?.usd ?? '';
    period.value = key.budget?.period ?? 'month';
    expires.value = fmt.isoToLocalInput(key.expires_at);
    owner.value = key.metadata?.owner ?? '';
    team.value = key.metadata?.team ?? '';
    renderModels(key.models ?? []);
    el.scrollIntoView({ block: 'start' });
    name.focus();
  }

  // The JSON body, or a string saying what is wrong. Creating leaves empty fields out; editing
  // sends them as null, which clears the limit.
  function body() {
    const b = { name: name.value.trim() };
    if (!b.name) return 'Name is required.';
    b.models = [...modelBoxes.querySelectorAll('input:checked')].map((i) => i.value);
    for (const [key, control] of [['rpm', rpm], ['tpm', tpm], ['max_parallel', parallel]]) {
      const v = control.value.trim();
      if (v === '') {
        if (editing) b[key] = null;
      } else if (!/^\d+$/.test(v) || Number(v) < 1) {
        return `${key} must be a whole number of at least 1.`;
      } else {
        b[key] = Number(v);
      }
    }
    const dollars = usd.value.trim();
    if (dollars !== '') {
      if (!(Number(dollars) > 0)) return 'The budget must be more than $0.';
      b.budget = { usd: Number(dollars), period: period.value };
    } else if (editing) {
      b.budget = null;
    }
    const when = fmt.localInputToIso(expires.value);
    if (when) b.expires_at = when;
    else if (editing) b.expires_at = null;
    const metadata = { ...(editing?.metadata ?? {}) };
    for (const [key, control] of [['owner', owner], ['team', team]]) {
      if (control.value.trim()) metadata[key] = control.value.trim();
      else delete metadata[key];
    }
    if (editing || Object.keys(metadata).length) b.metadata = metadata;
    return b;
  }

  async function submitted(e) {
    e.preventDefault();
    const b = body();
    submit.disabled = true;
    let problem;
    try {
      problem = typeof b === 'string' ? b : await onSubmit(b, editing);
    } finally {
      submit.disabled = false;
    }
    error.hidden = !problem;
    error.textContent = problem;
    if (!problem) reset();
  }

  reset();
  return { el, edit, reset, setModels };
}
