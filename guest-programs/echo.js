// Echo, in the Fetch style: POST /echo answers with the request body. The smallest possible guest,
// for benchmarks: it measures the cost of Lockstep itself (one request entry, no values, one answer).
export default {
  async fetch(request) {
    if (request.method === 'POST' && new URL(request.url).pathname === '/echo') {
      return new Response(await request.text(), { headers: { 'content-type': request.headers.get('content-type') ?? 'text/plain' } });
    }
    return Response.json({ error: 'not_found' }, { status: 404 });
  },
};
