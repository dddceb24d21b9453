// Benchmark guest: the echo of bench-plain.js written with the Fetch API (request.text(),
// request.headers.get(), new Response): the pair measures what the Fetch objects cost per request.
export default {
  async fetch(request) {
    return new Response(await request.text(), { headers: { 'content-type': request.headers.get('content-type') ?? 'text/plain' } });
  },
};
