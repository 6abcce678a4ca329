// The clinician's encrypted browser cache (js-glue/cache.mjs) over an in-memory IndexedDB and the real
// wasm core: what it stores opens only with its key, and a cache made before the server's share
// changed rule (version 1: the share derived from the account's id) is dropped on the first open,
// without an error, rather than kept where an account given a reused id could have opened it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeIndexedDB } from './fake-indexeddb.mjs';
import { load } from './load-core.mjs';
import { Cache } from '../../js-glue/cache.mjs';

const core = await load();
const b64u = (bytes) => Buffer.from(bytes).toString('base64url');

function install() {
  const fake = fakeIndexedDB();
  globalThis.indexedDB = fake.indexedDB;
  globalThis.IDBKeyRange = fake.IDBKeyRange;
  return fake;
}

test('what the cache stores opens with its key only', async () => {
  install();
  const share = b64u(core.randomBytes(32));
  const a = await Cache.forClinician(core, 'user-1', share);
  await a.put('settings', 'me', { email: 'dr@example.org' });
  assert.deepEqual(await a.get('settings', 'me'), { email: 'dr@example.org' });
  a.close();
  const again = await Cache.forClinician(core, 'user-1', share);
  assert.deepEqual(await again.get('settings', 'me'), { email: 'dr@example.org' }, 'the same device and share: it opens');
  again.close();
  const other = await Cache.forClinician(core, 'user-1', b64u(core.randomBytes(32)));
  assert.equal(await other.get('settings', 'me'), undefined, 'another share: nothing opens');
  other.close();
});

test('a cache made under the old share rule (version 1) is emptied on the first open, without an error', async () => {
  const fake = install();
  // what version 1 left: records of two accounts sealed under keys this device can no longer make
  const oldKey = core.cacheKey(core.randomBytes(32), core.randomBytes(32));
  const rows = new Map();
  for (const id of ['user-7/settings/me', 'user-7/chat/v1-0001', 'user-8/visits/v2']) {
    rows.set(id, { id, rec: core.seal(oldKey, id, new TextEncoder().encode('{"old":true}')) });
  }
  oldKey.drop();
  fake.dbs.set('televisit-cache', { version: 1, stores: new Map([['device', { rows: new Map() }], ['records', { keyPath: 'id', rows }]]) });

  const cache = await Cache.forClinician(core, 'user-7', b64u(core.randomBytes(32)));
  const stored = fake.dbs.get('televisit-cache');
  assert.equal(stored.version, 2);
  assert.equal(stored.stores.get('records').rows.size, 0, 'every record of the old rule is gone');
  assert.equal(await cache.get('settings', 'me'), undefined);
  assert.deepEqual(await cache.list('chat'), []);
  // and the cache works as usual from then on
  await cache.put('settings', 'me', { id: 7 });
  assert.deepEqual(await cache.get('settings', 'me'), { id: 7 });
  cache.close();
  const reopened = await Cache.forClinician(core, 'user-7', b64u(core.randomBytes(32)));
  assert.equal(stored.stores.get('records').rows.size, 1, 'a later open drops nothing more');
  reopened.close();
});
