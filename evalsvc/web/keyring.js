// The certificate key of this tab: kept in sessionStorage with the token (so a reload
// keeps it) and forgotten with it at sign-out. docs/web.md "Certificate sign-in" says
// why this is acceptable (CSP, no third-party script) and what a USB key would change.

import { loadSigner } from "./certkey.js";

const KEY = "evalsvc.certkey";
let cached = null;

/** Keep `pem` (already loaded as `signer`) for this tab. */
export function remember(pem, signer) {
  sessionStorage.setItem(KEY, pem);
  cached = signer;
}

/** The tab's signer, or null when it signed in without a certificate. */
export async function currentSigner() {
  if (cached) return cached;
  const pem = sessionStorage.getItem(KEY);
  if (!pem) return null;
  cached = await loadSigner(pem);
  return cached;
}

export function forget() {
  sessionStorage.removeItem(KEY);
  cached = null;
}
