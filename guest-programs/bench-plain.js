// Benchmark guest: an echo in the plain-object contract (request.body, request.headers['x'], a
// { headers, body } answer). bench-fetch.js is the same echo with Request/Response: the pair
// measures what the Fetch objects cost per request.
export default {
  fetch(request) {
    return { headers: { 'content-type': request.headers['content-type'] ?? 'text/plain' }, body: request.body };
  },
};
