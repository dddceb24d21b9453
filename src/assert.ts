// Invariant checks. A failed assert means Lockstep itself is broken: it crashes and is never caught.

export class AssertionFailed extends Error {
  override name = 'AssertionFailed';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionFailed(`invariant broken: ${message}`);
}

export function assertNever(value: never, what: string): never {
  throw new AssertionFailed(`invariant broken: unexpected ${what}: ${JSON.stringify(value)}`);
}
