// A small in-memory IndexedDB for node, enough for js-glue/cache.mjs and no more: databases with a
// version and an upgrade (onupgradeneeded with oldVersion, its transaction), object stores with a
// keyPath or out-of-line keys, get/put/delete/getAll/clear by key or key range, requests answered on
// a later turn in the order they were made. Transactions are not isolated. `dbs` is what is stored:
// name -> {version, stores: name -> {keyPath, rows: Map}}, for a test to seed and inspect.
class KeyRange {
  constructor(lower, upper) { this.lower = lower; this.upper = upper; }
  includes(k) { return k >= this.lower && k <= this.upper; }
  static bound(lower, upper) { return new KeyRange(lower, upper); }
}

export function fakeIndexedDB() {
  const dbs = new Map();
  const later = (fn) => setTimeout(fn, 0);
  const request = (work) => {
    const r = {};
    later(() => {
      try {
        r.result = work();
        r.onsuccess?.({ target: r });
      } catch (e) {
        r.error = e;
        r.onerror?.({ target: r });
      }
    });
    return r;
  };
  const matches = (query) => (k) => (query === undefined ? true : query instanceof KeyRange ? query.includes(k) : k === query);

  function store(s) {
    if (!s) throw new DOMException('no such object store', 'NotFoundError');
    const keyOf = (value, key) => (s.keyPath ? value[s.keyPath] : key);
    return {
      get: (k) => request(() => s.rows.get(k)),
      put: (value, key) => request(() => { s.rows.set(keyOf(value, key), value); return keyOf(value, key); }),
      delete: (query) => request(() => { for (const k of [...s.rows.keys()].filter(matches(query))) s.rows.delete(k); }),
      getAll: (query) => request(() => [...s.rows.keys()].filter(matches(query)).sort().map((k) => s.rows.get(k))),
      clear: () => request(() => s.rows.clear()),
    };
  }

  function connection(name, d) {
    return {
      name,
      onversionchange: null,
      get version() { return d.version; },
      get objectStoreNames() { return [...d.stores.keys()]; },
      createObjectStore(s, { keyPath } = {}) { d.stores.set(s, { keyPath, rows: new Map() }); },
      transaction() { return { objectStore: (s) => store(d.stores.get(s)) }; },
      close() {},
    };
  }

  const indexedDB = {
    open(name, version = 1) {
      const r = {};
      later(() => {
        if (!dbs.has(name)) dbs.set(name, { version: 0, stores: new Map() });
        const d = dbs.get(name);
        if (version < d.version) {
          r.error = new DOMException('a newer version exists', 'VersionError');
          r.onerror?.({ target: r });
          return;
        }
        const db = connection(name, d);
        r.result = db;
        if (version > d.version) {
          const oldVersion = d.version;
          d.version = version;
          r.transaction = db.transaction();
          r.onupgradeneeded?.({ oldVersion, newVersion: version, target: r });
        }
        later(() => { r.transaction = null; r.onsuccess?.({ target: r }); });   // after the upgrade's requests
      });
      return r;
    },
    deleteDatabase(name) { return request(() => { dbs.delete(name); }); },
  };
  return { indexedDB, IDBKeyRange: KeyRange, dbs };
}
