// Writes the HTML pages from shell.html (the page that hosts the app's modules, as Emscripten names
// its own) into the web root: they differ only in their title key and their module, so one template
// serves them all.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const PAGES = {
  'index.html': ['title.console', 'console'],     // the clinician's console
  'visit.html': ['title.visit', 'patient'],       // served at /v/TOKEN
  'activate.html': ['title.activate', 'activate'], // mailed links
  'reset.html': ['title.reset', 'reset'],
  'sso-done.html': ['title.sso', 'sso-done'],   // where a single sign-on popup lands
};

const [shell, out] = process.argv.slice(2);
const template = readFileSync(shell, 'utf8');
for (const [file, [title, module]] of Object.entries(PAGES)) {
  writeFileSync(join(out, file), template.replace('%TITLE%', title).replace('%MODULE%', module));
}
