// Request and Response of the Fetch standard (the parts a server needs), on top of Headers and Body.
// A Request handed to fetch() also keeps the old plain-object contract: `path` (the request target),
// `body` (the body as a string), and `headers['name']` (lower-case names), so guests written before
// the Fetch API keep working unchanged.
import { Body, extractBody } from './body.js';
import { utf8Decode } from './encoding.js';
import { Headers, checkName } from './headers.js';

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);
const NORMALIZED_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH']);
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Methods of Headers: a legacy index property of the same name would hide them. */
const HEADERS_MEMBERS = new Set(['append', 'delete', 'get', 'getSetCookie', 'has', 'set', 'entries', 'keys', 'values', 'forEach', 'constructor']);

/** Only the host's requests are built from this; guests cannot name it. */
const FROM_HOST = Symbol('lockstep host request');
// Captured when the bundle is evaluated (before any guest code): a host request's parts are built
// on first use, after guest code ran, and must not run a guest's replacement of these.
const JSONParse = JSON.parse;
const ObjectDefineProperty = Object.defineProperty;
const ObjectHasOwn = Function.prototype.call.bind(Object.prototype.hasOwnProperty);
const SetHas = Function.prototype.call.bind(Set.prototype.has);
/** A host request's legacy `body` string for a body that is not UTF-8: decoded (lossily) on first use. */
const DECODE_ON_USE = Symbol('decode the bytes on first use');

export function makeFetchClasses(urls) {
  function parseUrl(input, what) {
    try {
      return new urls.URL(String(input)).href;
    } catch {
      throw new TypeError(`${what}: "${String(input)}" is not an absolute URL`);
    }
  }

  class Request extends Body {
    #url;
    #method;
    /** A Headers; for a host request, null until first asked for (see #headerPairs). */
    #headers;
    /** A host request's header pairs, or their JSON text until first needed. */
    #headerSource;
    #legacyPath;
    #legacyBody;

    constructor(input, init = {}) {
      if (input === FROM_HOST) {
        // The host's request: already valid HTTP, so nothing is parsed again (a URL parse costs more
        // than the rest of a request together). Its headers and URL are built on first use: a
        // handler that never asks pays nothing for them.
        super(init.body);
        this.#url = init.url;
        this.#method = init.method;
        this.#headers = null;
        this.#headerSource = init.headers;
        this.#legacyPath = init.path;
        this.#legacyBody = init.legacyBody;
        return;
      }
      const options = init === null || init === undefined ? {} : init;
      const from = input instanceof Request ? input : null;
      let source = from ? Body._source(from) : null;
      let contentType = null;
      if (options.body !== undefined && options.body !== null) [source, contentType] = extractBody(options.body, urls);
      else if (from && from.bodyUsed) throw new TypeError('Request: the body of the request it copies has already been read');
      super(source);
      this.#url = from ? from.url : parseUrl(input, 'Request');
      let method = options.method !== undefined ? String(options.method) : from ? from.method : 'GET';
      checkName(method);
      if (NORMALIZED_METHODS.has(method.toUpperCase())) method = method.toUpperCase();
      if (FORBIDDEN_METHODS.has(method.toUpperCase())) throw new TypeError(`Request: the method ${method} is forbidden`);
      if ((method === 'GET' || method === 'HEAD') && source !== null) throw new TypeError('Request: a GET or HEAD request cannot have a body');
      this.#method = method;
      this.#headers = new Headers(options.headers !== undefined ? options.headers : from ? from.headers : undefined);
      if (contentType && !this.#headers.has('content-type')) this.#headers.set('content-type', contentType);
    }

    /**
     * The request fetch() is given: the host's request with the legacy fields of the plain-object
     * contract (path, body as a string, headers['name']). Its body is `bodyText` (a UTF-8 body, as
     * text), or else `bodyBuffer` (the bytes as received, handed over for this request alone).
     */
    static _fromHost(method, url, path, headerSource, bodyText, bodyBuffer) {
      const binary = bodyBuffer !== undefined && bodyBuffer !== null;
      const source = binary ? new Uint8Array(bodyBuffer) : bodyText.length > 0 ? bodyText : null;
      return new Request(FROM_HOST, { method, url, path, headers: headerSource, body: source, legacyBody: binary ? DECODE_ON_USE : bodyText });
    }

    /** A host request's header pairs, parsed from their JSON text the first time they are needed. */
    #headerPairs() {
      if (typeof this.#headerSource === 'string') this.#headerSource = JSONParse(this.#headerSource);
      return this.#headerSource;
    }

    get url() {
      // The host's requests compute their URL on first use (from the Host header and the target).
      if (typeof this.#url === 'function') this.#url = this.#url(this.#headerPairs());
      return this.#url;
    }
    get method() {
      return this.#method;
    }
    get headers() {
      if (this.#headers === null) {
        // A host request's Headers, with the legacy fields of the plain-object contract (headers['name']).
        const pairs = this.#headerPairs();
        const headers = Headers._freeze(Headers._fromPairs(pairs));
        for (let i = 0; i < pairs.length; i++) {
          const name = pairs[i][0];
          const value = pairs[i][1];
          if (SetHas(HEADERS_MEMBERS, name)) continue;
          const previous = ObjectHasOwn(headers, name) ? headers[name] + ', ' : '';
          ObjectDefineProperty(headers, name, { value: previous + value, enumerable: true, configurable: true, writable: false });
        }
        this.#headers = headers;
      }
      return this.#headers;
    }
    /** Lockstep's plain-object contract: the request target as the client sent it. */
    get path() {
      if (this.#legacyPath !== undefined) return this.#legacyPath;
      const url = new urls.URL(this.#url);
      return url.pathname + url.search;
    }
    /** Lockstep's plain-object contract: the body as a string (not a stream). */
    get body() {
      if (this.#legacyBody === DECODE_ON_USE) this.#legacyBody = utf8Decode(Body._source(this));
      if (this.#legacyBody !== undefined) return this.#legacyBody;
      const source = Body._source(this);
      return source === null ? null : typeof source === 'string' ? source : null;
    }
    get redirect() {
      return 'manual';
    }
    clone() {
      if (this.bodyUsed) throw new TypeError('Request.clone: the body has already been read');
      return new Request(this);
    }
    get [Symbol.toStringTag]() {
      return 'Request';
    }
  }

  class Response extends Body {
    #status;
    #statusText;
    #headers;
    #type;

    constructor(body = null, init = {}) {
      const options = init === null || init === undefined ? {} : init;
      const status = options.status === undefined ? 200 : Number(options.status);
      if (!Number.isInteger(status) || status < 200 || status > 599) throw new RangeError(`Response: the status must be an integer from 200 to 599, got ${String(options.status)}`);
      const statusText = options.statusText === undefined ? '' : String(options.statusText);
      if (!REASON_PHRASE.test(statusText)) throw new TypeError('Response: statusText has a character HTTP forbids');
      const [source, contentType] = extractBody(body, urls);
      if (source !== null && NULL_BODY_STATUSES.has(status)) throw new TypeError(`Response: a ${status} response cannot have a body`);
      super(source);
      this.#status = status;
      this.#statusText = statusText;
      this.#headers = new Headers(options.headers);
      this.#type = 'default';
      if (contentType && !this.#headers.has('content-type')) this.#headers.set('content-type', contentType);
    }

    static json(data, init = {}) {
      const text = JSON.stringify(data);
      if (text === undefined) throw new TypeError('Response.json: the data cannot be serialized as JSON');
      const response = new Response(text, init);
      response.#headers.set('content-type', 'application/json');
      if (init && init.headers) {
        const given = new Headers(init.headers);
        if (given.has('content-type')) response.#headers.set('content-type', given.get('content-type'));
      }
      return response;
    }

    static redirect(url, status = 302) {
      const code = Number(status);
      if (!REDIRECT_STATUSES.has(code)) throw new RangeError(`Response.redirect: ${String(status)} is not a redirect status (301, 302, 303, 307, 308)`);
      const response = new Response(null, { status: code, headers: { location: parseUrl(url, 'Response.redirect') } });
      Headers._freeze(response.#headers);
      return response;
    }

    static error() {
      const response = new Response(null, { status: 200 });
      response.#status = 0;
      response.#type = 'error';
      Headers._freeze(response.#headers);
      return response;
    }

    /** What the host sends: [status, header pairs, body source], a reason it cannot be sent, or null for a non-Response. */
    static _parts(response) {
      // A brand check: reading a private field of another object throws, and runs no guest code.
      // (\`#status in response\` would be the idiom, but this QuickJS throws for a non-instance.)
      try {
        void response.#status;
      } catch {
        return null;
      }
      if (response.#type === 'error') return 'Response.error() cannot be sent as an answer';
      if (response.bodyUsed) return 'the response body has already been read';
      return [response.#status, Headers._pairs(response.#headers), Body._source(response)];
    }

    get status() {
      return this.#status;
    }
    get statusText() {
      return this.#statusText;
    }
    get ok() {
      return this.#status >= 200 && this.#status <= 299;
    }
    get headers() {
      return this.#headers;
    }
    get type() {
      return this.#type;
    }
    get url() {
      return '';
    }
    get redirected() {
      return false;
    }
    clone() {
      if (this.bodyUsed) throw new TypeError('Response.clone: the body has already been read');
      const source = Body._source(this);
      const copy = new Response(source === null ? null : typeof source === 'string' ? source : source.slice(), { status: this.#status === 0 ? 200 : this.#status, statusText: this.#statusText, headers: this.#headers });
      copy.#status = this.#status;
      copy.#type = this.#type;
      return copy;
    }
    get [Symbol.toStringTag]() {
      return 'Response';
    }
  }

  return { Request, Response };
}
