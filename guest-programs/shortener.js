// A URL shortener, written as for Cloudflare Workers: nothing in it is specific to Lockstep.
//   POST /links {"url": "https://...", "slug"?: "name"}  -> 201 {"slug", "short", "url"} (409 if taken)
//   GET  /<slug>                                        -> 302 to the URL (counts the visit)
//   GET  /links/<slug>                                  -> {"slug", "url", "hits", "createdAt"}
//   GET  /links?prefix=ab&limit=10                      -> {"links": [...]}
//   DELETE /links/<slug>                                -> {"deleted": true|false}
const SLUG = /^[A-Za-z0-9_-]{3,32}$/;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function newSlug() {
  const bytes = crypto.getRandomValues(new Uint8Array(7));
  return Array.from(bytes, (b) => ALPHABET[b % ALPHABET.length]).join('');
}

function error(status, code, message) {
  return Response.json({ error: code, message }, { status });
}

async function create(request, env, origin) {
  let input;
  try {
    input = await request.json();
  } catch {
    return error(400, 'bad_json', 'the body must be JSON: {"url": "https://..."}');
  }
  let target;
  try {
    target = new URL(input.url);
  } catch {
    return error(400, 'bad_url', 'url must be an absolute URL');
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') return error(400, 'bad_url', 'only http and https URLs can be shortened');
  const slug = input.slug ?? newSlug();
  if (typeof slug !== 'string' || !SLUG.test(slug) || slug === 'links') return error(400, 'bad_slug', 'a slug has 3 to 32 letters, digits, _ or -');
  if ((await env.storage.get(`link:${slug}`)) !== undefined) return error(409, 'slug_taken', `the slug ${slug} is already in use`);
  const link = { url: target.href, hits: 0, createdAt: new Date().toISOString() };
  await env.storage.put(`link:${slug}`, link);
  return Response.json({ slug, short: `${origin}/${slug}`, url: link.url }, { status: 201, headers: { location: `${origin}/links/${slug}` } });
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const parts = url.pathname.split('/').filter(Boolean);
    if (parts[0] === 'links') {
      if (parts.length === 1 && request.method === 'POST') return create(request, env, url.origin);
      if (parts.length === 1 && request.method === 'GET') {
        const limit = Math.min(Number(url.searchParams.get('limit') ?? 50) || 50, 100);
        const found = await env.storage.list({ prefix: `link:${url.searchParams.get('prefix') ?? ''}`, limit });
        return Response.json({ links: [...found].map(([key, link]) => ({ slug: key.slice(5), ...link })) });
      }
      if (parts.length === 2) {
        const key = `link:${parts[1]}`;
        if (request.method === 'DELETE') return Response.json({ deleted: await env.storage.delete(key) });
        const link = await env.storage.get(key);
        return link ? Response.json({ slug: parts[1], ...link }) : error(404, 'no_such_link', `no link ${parts[1]}`);
      }
      return error(405, 'method_not_allowed', `${request.method} ${url.pathname}`);
    }
    if (parts.length === 1 && request.method === 'GET') {
      const key = `link:${parts[0]}`;
      const link = await env.storage.get(key);
      if (!link) return error(404, 'no_such_link', `no link ${parts[0]}`);
      link.hits += 1;
      await env.storage.put(key, link);
      return Response.redirect(link.url, 302);
    }
    return error(404, 'not_found', 'POST /links to shorten a URL');
  },
};
