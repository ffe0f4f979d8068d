// What a person typed and what is waiting to be sent, kept in localStorage so that a
// reload, a crash or a dropped link loses nothing (STYLE.md: "State a person typed is
// theirs until they submit it"). `storage` is injected: window.localStorage in the page,
// a Map-backed stand-in under `node --test`.

const PREFIX = "evalsvc.";

function read(storage, key, fallback) {
  try {
    const raw = storage.getItem(PREFIX + key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

function write(storage, key, value) {
  try {
    if (value === null) storage.removeItem(PREFIX + key);
    else storage.setItem(PREFIX + key, JSON.stringify(value));
  } catch {
    // Storage full or disabled: the values stay on screen; nothing else to do.
  }
}

/** Drafts of one sheet, keyed by session, stage and seat. */
export class Drafts {
  constructor(storage, sessionId, stage, seat) {
    this.storage = storage;
    this.key = `draft.${sessionId}.${stage}.${seat}`;
  }

  load() {
    return read(this.storage, this.key, null);
  }

  save(values) {
    write(this.storage, this.key, values);
  }

  clear() {
    write(this.storage, this.key, null);
  }
}

/**
 * Messages not yet acknowledged by the server, in the order they were made. Each has an
 * `id` (the idempotency key): sending it again after a drop returns the first answer, so
 * the outbox may re-send freely and the server still stores one version.
 */
export class Outbox {
  constructor(storage, sessionId, who) {
    this.storage = storage;
    this.key = `outbox.${sessionId}.${who}`;
  }

  all() {
    return read(this.storage, this.key, []);
  }

  add(message) {
    const items = this.all().filter((m) => m.id !== message.id);
    items.push(message);
    write(this.storage, this.key, items);
  }

  remove(id) {
    const items = this.all();
    const left = items.filter((m) => m.id !== id);
    write(this.storage, this.key, left.length ? left : null);
    return left.length !== items.length;
  }

  has(id) {
    return this.all().some((m) => m.id === id);
  }
}

/** A fresh idempotency key (protocol: 8–100 of A-Z a-z 0-9 _ . : -). */
export function messageId(prefix, random) {
  const r = random || (() => globalThis.crypto.randomUUID());
  return `${prefix}-${r().replace(/[^A-Za-z0-9]/g, "")}`.slice(0, 100);
}

/** Token kept for this tab only (a shared venue PC: closing the tab forgets it). */
export const tokenStore = {
  get(storage) {
    return storage.getItem(PREFIX + "token") || "";
  },
  set(storage, token) {
    storage.setItem(PREFIX + "token", token);
  },
  clear(storage) {
    storage.removeItem(PREFIX + "token");
  },
};

/** Forget everything this browser kept for evalsvc (sign-out on a shared venue PC). */
export function clearAll(storage) {
  const keys = [];
  for (let i = 0; i < storage.length; i += 1) {
    const k = storage.key(i);
    if (k && k.startsWith(PREFIX)) keys.push(k);
  }
  for (const k of keys) storage.removeItem(k);
}
