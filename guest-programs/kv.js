// A key-value store in the Fetch style: PUT/GET/DELETE /kv/<key>, GET /kv lists the keys.
// Shows Request/Response, URL, and env.storage (each change is on disk before its answer leaves).
const KEY = /^\/kv\/([A-Za-z0-9_.-]{1,64})$/;

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    const storage = env.storage;
    if (pathname === '/kv' && request.method === 'GET') {
      const keys = [...(await storage.list({ prefix: 'kv:' })).keys()].map((k) => k.slice(3));
      return Response.json({ keys, count: keys.length });
    }
    const match = KEY.exec(pathname);
    if (!match) return Response.json({ error: 'not_found' }, { status: 404 });
    const key = match[1];
    switch (request.method) {
      case 'GET': {
        const entry = await storage.get(`kv:${key}`);
        if (entry === undefined) return Response.json({ error: 'no_such_key', key }, { status: 404 });
        return new Response(entry.value, { headers: { 'content-type': 'text/plain' } });
      }
      case 'PUT': {
        const value = await request.text();
        await storage.put(`kv:${key}`, { value, updatedAt: new Date().toISOString() });
        return Response.json({ key, bytes: value.length }, { status: 201 });
      }
      case 'DELETE': {
        const deleted = await storage.delete(`kv:${key}`);
        return Response.json({ key, deleted }, { status: deleted ? 200 : 404 });
      }
      default:
        return Response.json({ error: 'method_not_allowed' }, { status: 405 });
    }
  },
};
