// Writes the HTML pages from web/page.html into the web root: they differ only in their title
// key and their module, so one template serves them all.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const PAGES = {
  'index.html': ['title.console', 'console'],     // the clinician's console
  'visit.html': ['title.visit', 'patient'],       // served at /v/TOKEN
  'activate.html': ['title.activate', 'activate'], // mailed links
  'reset.html': ['title.reset', 'reset'],
  'sso-done.html': ['title.sso', 'sso-done'],   // where a single sign-on popup lands
};

const [src, out] = process.argv.slice(2);
const template = readFileSync(join(src, 'page.html'), 'utf8');
for (const [file, [title, module]] of Object.entries(PAGES)) {
  writeFileSync(join(out, file), template.replace('%TITLE%', title).replace('%MODULE%', module));
}
