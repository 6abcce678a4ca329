// The encrypted IndexedDB cache: every value is a tv_record (XChaCha20-Poly1305) sealed in wasm
// memory, with its owner, store and key as the identity, so IndexedDB holds only ciphertext and a
// record moved to another key does not open. The key never exists in JS:
//   clinician: core.cacheKey(device secret, server share). The device secret is random, kept in
//     IndexedDB wrapped by a non-extractable AES-GCM CryptoKey; the share comes from
//     GET /api/cache_share only to a live session. Another device, a signed-out browser or a
//     disabled account cannot open the cache.
//   patient: a random key for this visit only, gone with the page.
import { unb64u } from './core.mjs';

const DB = 'televisit-cache';
// 2: the server's share derives from a random value of the account, no longer from its id. A cache
// made under version 1 could never open again (its key is gone), and under the old rule an account
// given a deleted one's id would have opened it: its records are dropped on the upgrade, silently.
// The device secret stays: it opens nothing by itself.
const VERSION = 2;

// A request's result. A delete or upgrade held up by another tab's open connection fails at once
// ('blocked') rather than waiting for that tab: the page then goes on without its cache.
function request(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
    r.onblocked = () => reject(new Error('blocked'));
  });
}

async function openDb(name) {
  const r = indexedDB.open(name, VERSION);
  r.onupgradeneeded = (ev) => {
    if (ev.oldVersion < 1) {
      r.result.createObjectStore('device');
      r.result.createObjectStore('records', { keyPath: 'id' });
    } else if (ev.oldVersion < 2) {
      r.transaction.objectStore('records').clear();
    }
  };
  const db = await request(r);
  db.onversionchange = () => db.close();   // another tab deleting or upgrading it is not held up by this one
  return db;
}

// The device secret, made on first use. Only its wrapped form is stored; the wrapping key cannot be
// exported, so a copy of the IndexedDB files alone does not give it.
async function deviceSecret(db, core) {
  const tx = (mode) => db.transaction('device', mode).objectStore('device');
  const saved = await request(tx('readonly').get('secret'));
  if (saved) {
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: saved.iv }, saved.wrapKey, saved.wrapped);
    return new Uint8Array(plain);
  }
  const wrapKey = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  const secret = core.randomBytes(32);
  const iv = core.randomBytes(12);
  const wrapped = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, wrapKey, secret);
  await request(tx('readwrite').put({ wrapKey, iv, wrapped }, 'secret'));
  return secret;
}

export class Cache {
  constructor(core, db, owner, key) {
    this.core = core;
    this.db = db;
    this.owner = owner;
    this.key = key;
  }

  static async forClinician(core, owner, shareB64) {
    const db = await openDb(DB);
    let share = null;
    let secret = null;
    try {
      share = unb64u(shareB64);
      secret = await deviceSecret(db, core);
      return new Cache(core, db, owner, core.cacheKey(secret, share));
    } catch (e) {
      db.close();
      throw e;
    } finally {
      secret?.fill(0);
      share?.fill(0);
    }
  }

  // A patient's cache lives in its own database, emptied when the page starts: what an earlier visit
  // left cannot be opened anyway (its key is gone).
  static async forPatient(core) {
    const name = `${DB}-visit`;
    await request(indexedDB.deleteDatabase(name));   // blocked by another tab: no cache for this one
    const db = await openDb(name);
    return new Cache(core, db, 'patient', core.randomKey());
  }

  identity(store, key) {
    return `${this.owner}/${store}/${key}`;
  }

  async put(store, key, value) {
    const id = this.identity(store, key);
    const rec = this.core.seal(this.key, id, new TextEncoder().encode(JSON.stringify(value)));
    const tx = this.db.transaction('records', 'readwrite');
    await request(tx.objectStore('records').put({ id, rec }));
  }

  // The value, or undefined when absent or not openable (another key: left from before, or forged).
  async get(store, key) {
    const id = this.identity(store, key);
    const row = await request(this.db.transaction('records').objectStore('records').get(id));
    return row ? this.openRow(row) : undefined;
  }

  // Every openable value of a store whose key starts with prefix, in key order.
  async list(store, prefix = '') {
    const from = this.identity(store, prefix);
    const range = IDBKeyRange.bound(from, `${from}\uffff`);
    const rows = await request(this.db.transaction('records').objectStore('records').getAll(range));
    return rows.map((r) => this.openRow(r)).filter((v) => v !== undefined);
  }

  openRow(row) {
    try {
      return JSON.parse(new TextDecoder().decode(this.core.open(this.key, row.id, new Uint8Array(row.rec))));
    } catch {
      return undefined;
    }
  }

  // Erases every record of this owner (the device secret stays: it opens nothing by itself).
  async wipe() {
    const range = IDBKeyRange.bound(`${this.owner}/`, `${this.owner}/\uffff`);
    await request(this.db.transaction('records', 'readwrite').objectStore('records').delete(range));
  }

  close() {
    this.key?.drop();
    this.key = null;
    this.db?.close();
    this.db = null;
  }
}
