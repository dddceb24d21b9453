// core-js-pure's URL, URLSearchParams and structuredClone: the bulk of the guest's Web APIs. The guest's
// setup evaluates this bundle before anything else (src/sandbox/guest.ts), so no event pays for it.
import URL from 'core-js-pure/actual/url/index.js';
import URLSearchParams from 'core-js-pure/actual/url-search-params/index.js';
import structuredClone from 'core-js-pure/actual/structured-clone.js';

export const urlLib = { URL, URLSearchParams, structuredClone };
