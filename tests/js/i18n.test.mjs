// Every string of the pages exists in French and English, with the same variables, and every key a
// page names in its code exists: a missing one would show its key to a patient.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';

const dir = new URL('../../web/app/', import.meta.url);
const tables = [];
for (const f of readdirSync(dir).filter((n) => n.startsWith('strings-'))) {
  tables.push([f, (await import(new URL(f, dir))).strings]);
}
const all = { en: {}, fr: {} };
for (const [, t] of tables) for (const l of ['en', 'fr']) Object.assign(all[l], t[l]);

test('French and English have the same keys and the same {variables}', () => {
  for (const [file, t] of tables) {
    assert.deepEqual(Object.keys(t.fr).sort(), Object.keys(t.en).sort(), `${file}: keys differ`);
    for (const k of Object.keys(t.en)) {
      const vars = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      assert.deepEqual(vars(t.fr[k]), vars(t.en[k]), `${file}: ${k}`);
      assert.notEqual(t.fr[k].trim(), '', `${file}: ${k} is empty in French`);
    }
  }
  assert.ok(Object.keys(all.en).length > 100);
});

test('every key the pages use literally is in the tables', () => {
  const used = new Set();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.mjs') && !n.startsWith('strings-'))) {
    const src = readFileSync(new URL(f, dir), 'utf8');
    for (const m of src.matchAll(/(?:i18n|i18nLabel|i18nPlaceholder|i18nTitle)\s*:\s*'([a-z_]+\.[a-z0-9_.]+)'/g)) used.add(m[1]);
    for (const m of src.matchAll(/\bsay\([^,]+,\s*'([a-z_]+\.[a-z0-9_.]+)'/g)) used.add(m[1]);
  }
  assert.ok(used.size > 50, `only ${used.size} keys found: the scan is broken`);
  const missing = [...used].filter((k) => !(k in all.en));
  assert.deepEqual(missing, []);
});
