// core-js-pure's URL, URLSearchParams and structuredClone: the bulk of the guest's Web APIs, so the
// prelude evaluates this bundle only when a guest first needs one of them (boot stays cheap).
import URL from 'core-js-pure/actual/url/index.js';
import URLSearchParams from 'core-js-pure/actual/url-search-params/index.js';
import structuredClone from 'core-js-pure/actual/structured-clone.js';

export const urlLib = { URL, URLSearchParams, structuredClone };
