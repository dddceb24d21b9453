// A running digest of every output a guest produced. Check entries carry it, so a replayer that
// produces other outputs than the recorded run is stopped with a divergence, not silently wrong.
import { createHash, type Hash } from 'node:crypto';
import type { OutputEffect } from '../sandbox/effects.js';

export class OutputDigest {
  private hash: Hash = createHash('sha256');

  add(output: OutputEffect): void {
    switch (output.type) {
      case 'respond':
        if (typeof output.body === 'string') {
          this.hash.update(`respond\0${output.requestId}\0${output.status}\0${JSON.stringify(output.headers)}\0${output.body}\0`);
        } else {
          // Bytes are digested as they are, after a length, so no text body can digest the same.
          this.hash.update(`respond-bytes\0${output.requestId}\0${output.status}\0${JSON.stringify(output.headers)}\0${output.body.length}\0`);
          this.hash.update(output.body);
        }
        return;
      case 'console':
        this.hash.update(`console\0${output.level}\0${output.text}\0`);
        return;
      case 'write':
        this.hash.update(`write\0${output.opId}\0${output.path}\0${output.data}\0`);
        return;
    }
  }

  /** 16 hex digits are plenty to tell two runs apart, and keep check entries small. */
  current(): string {
    return this.hash.copy().digest('hex').slice(0, 16);
  }
}
