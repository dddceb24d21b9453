// Echo: POST /echo answers with the request body. The smallest possible guest, for benchmarks:
// it measures the cost of Lockstep itself (one request entry, no values, one response).
export default {
  fetch(request) {
    if (request.method === 'POST' && request.path === '/echo') {
      return { headers: { 'content-type': request.headers['content-type'] ?? 'text/plain' }, body: request.body };
    }
    return { status: 404, body: { error: 'not_found' } };
  },
};
