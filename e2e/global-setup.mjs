// Before any browser starts: the test CA its NSS database trusts (e2e/pki.mjs).
import { testPki } from './pki.mjs';

export default function globalSetup() {
  testPki();
}
