// A small YAML reader for the repository's own deployment files (deploy/, the Kubernetes
// manifests, Prometheus and Grafana provisioning): block mappings and sequences, flow mappings
// and sequences on one line, plain, single- and double-quoted scalars, block scalars (| and >,
// with - and + chomping), comments and several documents separated by ---. Anything else
// (anchors, aliases, tags, multi-line flow collections or plain scalars, tabs for indentation)
// is an error naming the line, never a silent misreading. Scalars resolve as in YAML 1.2's core
// schema: null, booleans, integers and floats; everything else is a string.

export class YamlError extends Error {}

/** Parses every document of `text`; returns an array of values (empty documents left out). */
export function parseYamlDocuments(text, source = 'yaml') {
  const docs = [];
  let current = [];
  const flush = () => {
    if (current.some((l) => stripComment(l.text).trim() !== '')) docs.push(new Parser(current, source).parseDocument());
    current = [];
  };
  text.split(/\r?\n/).forEach((line, i) => {
    if (/^---(\s|$)/.test(line) || /^\.\.\.(\s|$)/.test(line)) {
      if (/^---\s+\S/.test(line) && !/^---\s+#/.test(line)) throw new YamlError(`${source}:${i + 1}: content after --- is not supported`);
      flush();
    } else {
      current.push({ text: line, no: i + 1 });
    }
  });
  flush();
  return docs;
}

/** Parses a single-document YAML text. */
export function parseYaml(text, source = 'yaml') {
  const docs = parseYamlDocuments(text, source);
  if (docs.length > 1) throw new YamlError(`${source}: ${docs.length} documents where one was expected`);
  return docs[0] ?? null;
}

/** Strips a comment: `#` at the start or after whitespace, outside quotes. */
function stripComment(line) {
  let quote = null;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i];
    if (quote) {
      if (c === quote) {
        if (quote === "'" && line[i + 1] === "'") i += 1;
        else quote = null;
      } else if (quote === '"' && c === '\\') {
        i += 1;
      }
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) {
      return line.slice(0, i).trimEnd();
    } else if ((c === '"' || c === "'") && (i === 0 || /[\s[{,:-]/.test(line[i - 1]))) {
      quote = c;
    }
  }
  return line.trimEnd();
}

const indentOf = (s) => s.length - s.trimStart().length;

/** Resolves a plain scalar. */
export function resolvePlain(s) {
  if (s === '' || s === '~' || /^(null|Null|NULL)$/.test(s)) return null;
  if (/^(true|True|TRUE)$/.test(s)) return true;
  if (/^(false|False|FALSE)$/.test(s)) return false;
  if (/^[-+]?[0-9]+$/.test(s)) return Number(s);
  if (/^0x[0-9a-fA-F]+$/.test(s)) return Number(s);
  if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(s)) return Number(s);
  if (/^[-+]?\.(inf|Inf|INF)$/.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  if (/^\.(nan|NaN|NAN)$/.test(s)) return NaN;
  return s;
}

class Parser {
  constructor(lines, source) {
    this.lines = lines;
    this.source = source;
    this.i = 0;
  }

  fail(message, no) {
    throw new YamlError(`${this.source}:${no ?? this.lines[Math.min(this.i, this.lines.length - 1)]?.no}: ${message}`);
  }

  /** The next line with content (comments stripped), or null; skips the blank ones. */
  peek() {
    while (this.i < this.lines.length) {
      const { text, no } = this.lines[this.i];
      if (/^\s*\t/.test(text)) this.fail('tab in indentation', no);
      const content = stripComment(text);
      if (content.trim() !== '') return { indent: indentOf(content), content: content.trim(), no };
      this.i += 1;
    }
    return null;
  }

  parseDocument() {
    const first = this.peek();
    if (!first) return null;
    const value = this.parseBlock(first.indent);
    const rest = this.peek();
    if (rest) this.fail(`unexpected content at indentation ${rest.indent}`, rest.no);
    return value;
  }

  /** A block node whose first line is indented exactly `indent`. */
  parseBlock(indent) {
    const line = this.peek();
    if (!line || line.indent !== indent) this.fail('expected a block node');
    if (line.content === '-' || line.content.startsWith('- ')) return this.parseSequence(indent);
    if (this.splitKey(line.content, line.no) !== null) return this.parseMapping(indent);
    // A lone scalar as the whole node (a document that is just a value).
    this.i += 1;
    return this.inlineValue(line.content, line.no);
  }

  parseSequence(indent) {
    const out = [];
    for (;;) {
      const line = this.peek();
      if (!line || line.indent < indent) break;
      if (line.indent > indent) this.fail('unexpected indentation in a sequence', line.no);
      if (!(line.content === '-' || line.content.startsWith('- '))) break;
      const rest = line.content === '-' ? '' : line.content.slice(2).trimStart();
      const restIndent = indent + (line.content.length - rest.length);
      if (rest === '') {
        this.i += 1;
        const next = this.peek();
        out.push(next && next.indent > indent ? this.parseBlock(next.indent) : null);
      } else if (rest.startsWith('- ') || rest === '-') {
        // A sequence as an item: "- - a".
        this.lines[this.i] = { text: ' '.repeat(restIndent) + rest, no: line.no };
        out.push(this.parseSequence(restIndent));
      } else if (this.splitKey(rest, line.no) !== null) {
        // A mapping as an item, its first entry on the dash's line.
        this.lines[this.i] = { text: ' '.repeat(restIndent) + rest, no: line.no };
        out.push(this.parseMapping(restIndent));
      } else {
        this.i += 1;
        out.push(this.scalarOrBlockScalar(rest, indent, line.no));
      }
    }
    return out;
  }

  parseMapping(indent) {
    const out = {};
    for (;;) {
      const line = this.peek();
      if (!line || line.indent < indent) break;
      if (line.indent > indent) this.fail('unexpected indentation in a mapping', line.no);
      if (line.content === '-' || line.content.startsWith('- ')) break;
      const kv = this.splitKey(line.content, line.no);
      if (kv === null) this.fail(`expected "key: value", got ${JSON.stringify(line.content)}`, line.no);
      const [key, rest] = kv;
      if (Object.hasOwn(out, key)) this.fail(`duplicate key ${JSON.stringify(key)}`, line.no);
      this.i += 1;
      if (rest === '') {
        const next = this.peek();
        if (next && next.indent > indent) out[key] = this.parseBlock(next.indent);
        else if (next && next.indent === indent && (next.content === '-' || next.content.startsWith('- '))) out[key] = this.parseSequence(indent);
        else out[key] = null;
      } else {
        out[key] = this.scalarOrBlockScalar(rest, indent, line.no);
      }
    }
    return out;
  }

  /** [key, rest] when `content` starts with a mapping key, else null. */
  splitKey(content, no) {
    let key;
    let after;
    if (content.startsWith('"') || content.startsWith("'")) {
      const [value, end] = readQuoted(content, 0, (m) => this.fail(m, no));
      if (content[end] !== ':' || !(end + 1 === content.length || content[end + 1] === ' ')) return null;
      key = value;
      after = end + 1;
    } else {
      if (/^[[{]/.test(content)) return null;
      const m = /^([^\s#][^#]*?)\s*:(?:\s+|$)/.exec(content);
      if (!m) return null;
      key = m[1];
      if (/^[&*!|>%@`]/.test(key)) this.fail(`unsupported YAML syntax ${JSON.stringify(key[0])}`, no);
      if (key === '<<') this.fail('merge keys are not supported', no);
      after = m[0].length;
      return [key, content.slice(after).trim()];
    }
    return [key, content.slice(after).trim()];
  }

  /** A value after "key:" or "- ": a block scalar indicator, a flow collection or a scalar. */
  scalarOrBlockScalar(rest, parentIndent, no) {
    const block = /^([|>])([-+]?)([1-9]?)$/.exec(rest) ?? /^([|>])([1-9]?)([-+]?)$/.exec(rest);
    if (block) {
      const folded = block[1] === '>';
      const chomp = [block[2], block[3]].find((x) => x === '-' || x === '+') ?? '';
      const explicit = [block[2], block[3]].find((x) => /^[1-9]$/.test(x));
      return this.readBlockScalar(parentIndent, folded, chomp, explicit ? parentIndent + Number(explicit) : null);
    }
    const value = this.inlineValue(rest, no);
    const next = this.peek();
    if (next && next.indent > parentIndent && typeof value !== 'object') {
      this.fail('multi-line plain or quoted scalars are not supported', next.no);
    }
    return value;
  }

  readBlockScalar(parentIndent, folded, chomp, fixedIndent) {
    const raw = [];
    let indent = fixedIndent;
    while (this.i < this.lines.length) {
      const { text } = this.lines[this.i];
      if (text.trim() === '') {
        raw.push('');
        this.i += 1;
        continue;
      }
      const ind = indentOf(text);
      if (ind <= parentIndent) break;
      if (indent === null) indent = ind;
      if (ind < indent) break;
      raw.push(text.slice(indent));
      this.i += 1;
    }
    // Trailing blank lines belong to chomping.
    let end = raw.length;
    while (end > 0 && raw[end - 1] === '') end -= 1;
    const body = raw.slice(0, end);
    const trailing = raw.length - end;
    let text;
    if (!folded) {
      text = body.join('\n');
    } else {
      text = '';
      // A line break between two lines becomes a space; an empty line stands for one line
      // break; more-indented lines keep theirs.
      body.forEach((l, k) => {
        const prev = body[k - 1];
        if (k === 0) text = l;
        else if (l === '') text += '\n';
        else if (prev === '') text += l;
        else if (/^\s/.test(l) || /^\s/.test(prev)) text += `\n${l}`;
        else text += ` ${l}`;
      });
    }
    if (body.length === 0) return chomp === '+' ? '\n'.repeat(trailing) : '';
    if (chomp === '-') return text;
    if (chomp === '+') return `${text}\n${'\n'.repeat(trailing)}`;
    return `${text}\n`;
  }

  inlineValue(s, no) {
    const fail = (m) => this.fail(m, no);
    if (/^[&*!]/.test(s)) fail(`unsupported YAML syntax ${JSON.stringify(s[0])} (anchors, aliases, tags)`);
    if (s.startsWith('[') || s.startsWith('{')) {
      const [value, end] = readFlow(s, 0, fail);
      if (s.slice(end).trim() !== '') fail(`unexpected text after a flow collection: ${JSON.stringify(s.slice(end))}`);
      return value;
    }
    if (s.startsWith('"') || s.startsWith("'")) {
      const [value, end] = readQuoted(s, 0, fail);
      if (s.slice(end).trim() !== '') fail(`unexpected text after a quoted scalar: ${JSON.stringify(s.slice(end))}`);
      return value;
    }
    if (/:\s/.test(s)) fail(`": " inside a plain scalar: ${JSON.stringify(s)}`);
    return resolvePlain(s);
  }
}

/** A quoted scalar starting at s[i]; returns [value, index after the closing quote]. */
function readQuoted(s, i, fail) {
  const q = s[i];
  let out = '';
  let j = i + 1;
  while (j < s.length) {
    const c = s[j];
    if (q === "'") {
      if (c === "'") {
        if (s[j + 1] === "'") {
          out += "'";
          j += 2;
          continue;
        }
        return [out, j + 1];
      }
      out += c;
      j += 1;
    } else {
      if (c === '"') return [out, j + 1];
      if (c === '\\') {
        const e = s[j + 1];
        const simple = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', '/': '/', 0: '\0', ' ': ' ', e: '\x1b' };
        if (e in simple) {
          out += simple[e];
          j += 2;
        } else if (e === 'x' || e === 'u' || e === 'U') {
          const n = { x: 2, u: 4, U: 8 }[e];
          out += String.fromCodePoint(parseInt(s.slice(j + 2, j + 2 + n), 16));
          j += 2 + n;
        } else {
          fail(`unknown escape \\${e}`);
        }
        continue;
      }
      out += c;
      j += 1;
    }
  }
  return fail('unterminated quoted scalar');
}

/** A flow collection or scalar starting at s[i]; returns [value, index after it]. */
function readFlow(s, i, fail) {
  const ws = (k) => {
    while (k < s.length && s[k] === ' ') k += 1;
    return k;
  };
  i = ws(i);
  const c = s[i];
  if (c === '[') {
    const out = [];
    i = ws(i + 1);
    if (s[i] === ']') return [out, i + 1];
    for (;;) {
      const [v, j] = readFlow(s, i, fail);
      out.push(v);
      i = ws(j);
      if (s[i] === ',') {
        i = ws(i + 1);
        if (s[i] === ']') return [out, i + 1];
        continue;
      }
      if (s[i] === ']') return [out, i + 1];
      return fail(`expected , or ] in a flow sequence at ${JSON.stringify(s.slice(i))}`);
    }
  }
  if (c === '{') {
    const out = {};
    i = ws(i + 1);
    if (s[i] === '}') return [out, i + 1];
    for (;;) {
      let key;
      if (s[i] === '"' || s[i] === "'") {
        [key, i] = readQuoted(s, i, fail);
      } else {
        const m = /^[^,:{}[\]]+?(?=\s*:(?:\s|$|[,}]))/.exec(s.slice(i));
        if (!m) return fail(`expected a key in a flow mapping at ${JSON.stringify(s.slice(i))}`);
        key = m[0].trim();
        i += m[0].length;
      }
      i = ws(i);
      if (s[i] !== ':') return fail(`expected : after flow key ${JSON.stringify(key)}`);
      i = ws(i + 1);
      let v = null;
      if (s[i] !== ',' && s[i] !== '}') [v, i] = readFlow(s, i, fail);
      if (Object.hasOwn(out, key)) fail(`duplicate key ${JSON.stringify(key)}`);
      out[key] = v;
      i = ws(i);
      if (s[i] === ',') {
        i = ws(i + 1);
        if (s[i] === '}') return [out, i + 1];
        continue;
      }
      if (s[i] === '}') return [out, i + 1];
      return fail(`expected , or } in a flow mapping at ${JSON.stringify(s.slice(i))}`);
    }
  }
  if (c === '"' || c === "'") return readQuoted(s, i, fail);
  if (c === undefined) return fail('missing value in a flow collection');
  if (/^[&*!]/.test(c)) return fail(`unsupported YAML syntax ${JSON.stringify(c)}`);
  const m = /^[^,{}[\]]*/.exec(s.slice(i));
  return [resolvePlain(m[0].trim()), i + m[0].length];
}
