// The Web APIs of a Lockstep guest, bundled into one script (scripts/bundle-guest-web.mjs) that the
// prelude evaluates before the program. URL, URLSearchParams and structuredClone come from
// core-js-pure (a maintained, spec-following pure-JS implementation: no host calls, no clock, no
// entropy, so deterministic by construction) in a second bundle (url-lib.js), evaluated at the
// guest's setup, before this one; the rest is written here, small and UTF-8 only.
import { atob, btoa, DOMException, TextDecoder, TextEncoder } from './encoding.js';
import { Headers } from './headers.js';
import { makeFetchClasses } from './fetch.js';
import { Storage } from './storage.js';

/** core-js-pure's { URL, URLSearchParams, structuredClone }, handed over by the prelude (internals.setUrlLib). */
let urlLib = null;
const urls = {
  get URL() {
    return urlLib.URL;
  },
  isURLSearchParams(value) {
    return value instanceof urlLib.URLSearchParams;
  },
};

const { Request, Response } = makeFetchClasses(urls);

const SAFE_TARGET = /^\/[A-Za-z0-9\-._~!$&()*+,;=:@/?%]*$/;
const DOT_SEGMENT = /(^|\/)(\.|%2e){1,2}(\/|\?|$)/i;
const HOST_NAME = /^[a-z0-9-]+(\.[a-z0-9-]+)*\.?$/;
const NUMERIC_LABEL = /(^|\.)(\d+|0x[0-9a-f]*)\.?$/;
const HOST_HEADER = /^[^/?#@\\\s]+$/;
const DOTTED_QUAD = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** The absolute URL of a request from its Host header and target, as `new URL()` would serialize it. */
export function requestUrl(hostHeader, target) {
  const host = typeof hostHeader === 'string' ? hostHeader.toLowerCase() : '';
  const colon = host.lastIndexOf(':');
  const name = colon >= 0 && host.indexOf(']') < 0 ? host.slice(0, colon) : host;
  const port = colon >= 0 && host.indexOf(']') < 0 ? host.slice(colon + 1) : '';
  const fastHost =
    HOST_NAME.test(name) && !name.includes('xn--') && (!NUMERIC_LABEL.test(name) || DOTTED_QUAD.test(name)) && (colon < 0 || (/^[1-9]\d{0,4}$/.test(port) && Number(port) <= 65535));
  if (fastHost && SAFE_TARGET.test(target) && !DOT_SEGMENT.test(target.split('?')[0])) {
    return 'http://' + (port === '80' ? name : host) + target;
  }
  // The target is a path (origin-form), so it is appended, never resolved: '//x' stays a path.
  // A Host header that could smuggle in userinfo, a path or a query is not used as the host.
  const path = target.startsWith('/') ? target : '/' + target;
  for (const base of [HOST_HEADER.test(host) ? host : 'localhost', 'localhost']) {
    try {
      return new urls.URL('http://' + base + path).href;
    } catch {
      // try the next base
    }
  }
  return 'http://localhost/';
}

/** The last Host header of a request (as node:http reports repeats), or undefined. */
function hostOf(headerPairs) {
  let host;
  for (let i = 0; i < headerPairs.length; i++) if (headerPairs[i][0] === 'host') host = headerPairs[i][1];
  return host;
}

export const web = { atob, btoa, DOMException, TextDecoder, TextEncoder, Headers, Request, Response };
export const internals = {
  setUrlLib: (lib) => {
    urlLib = lib;
  },
  /** headerSource: the header pairs, or their JSON text (parsed only if the guest asks for headers or the URL). */
  requestFromHost: (method, target, headerSource, bodyText, bodyBuffer) =>
    Request._fromHost(method, (headerPairs) => requestUrl(hostOf(headerPairs), target), target, headerSource, bodyText, bodyBuffer),
  responseParts: (response) => Response._parts(response),
  makeStorage: (hooks) => new Storage(hooks),
  serializeStorage: (storage) => Storage._serialize(storage),
  captureStorage: (storage) => Storage._capture(storage),
  settleStorage: (storage, captured) => Storage._settle(storage, captured),
  rollBackStorage: (storage) => Storage._rollBack(storage),
};
