/**
 * The UDP ports of `webrtc.udpPorts`, handed out in blocks, one block per session.
 *
 * werift searches a port range by binding each port, closing it, and binding it again for real.
 * Two sessions gathering at once can both find the same port free, and the loser's real bind
 * fails with EADDRINUSE on a socket nobody listens to for errors: an uncaught exception. Giving
 * every session a block of its own removes that race (and the linear search from the range's
 * start). A block holds one port per address werift binds for a session, and at least two:
 * werift refuses a range of one port, and the spare covers a port another program holds.
 */
export class UdpPortPool {
  readonly #first: number;
  readonly #blockSize: number;
  readonly #blocks: number;
  /** Leased block indexes. */
  readonly #leased = new Set<number>();
  /** Where the next search starts: round robin, so a port just released rests before its reuse. */
  #cursor = 0;

  constructor(range: [number, number], portsPerSession: number) {
    const [first, last] = range;
    this.#first = first;
    this.#blockSize = Math.max(2, Math.floor(portsPerSession));
    this.#blocks = Math.floor((last - first + 1) / this.#blockSize);
  }

  /** How many sessions the range holds at once. */
  get capacity(): number {
    return this.#blocks;
  }

  get leased(): number {
    return this.#leased.size;
  }

  /** A free block as an inclusive port range, or undefined when every block is leased. */
  lease(): PortLease | undefined {
    for (let tried = 0; tried < this.#blocks; tried += 1) {
      const block = (this.#cursor + tried) % this.#blocks;
      if (this.#leased.has(block)) continue;
      this.#leased.add(block);
      this.#cursor = (block + 1) % this.#blocks;
      const low = this.#first + block * this.#blockSize;
      let released = false;
      return {
        ports: [low, low + this.#blockSize - 1],
        release: () => {
          if (released) return;
          released = true;
          this.#leased.delete(block);
        },
      };
    }
    return undefined;
  }
}

export interface PortLease {
  readonly ports: [number, number];
  /** Idempotent. */
  release(): void;
}
