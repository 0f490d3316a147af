/**
 * Seeded randomness (DESIGN.md decision 5). The Raft core draws its randomized election timeouts from
 * an injected `Random`, so a simulation seeded with S makes the same choices every run.
 */

export interface Random {
  /** A uniformly distributed integer in [0, n). */
  int(n: number): number;
}

/**
 * SplitMix32-seeded xoshiro128**: small, fast, and good enough for test schedules and election jitter.
 * Not for cryptography.
 */
export class Prng implements Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  next32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.b << 9) >>> 0;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  int(n: number): number {
    if (n <= 0) throw new RangeError(`Prng.int needs n > 0, got ${n}`);
    return Math.floor((this.next32() / 0x1_0000_0000) * n);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next32() / 0x1_0000_0000 < p;
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** A new independent generator derived from this one (so adding draws in one place does not shift another). */
  fork(): Prng {
    return new Prng(this.next32());
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
