/**
 * Realistic JSON events for compression measurements: user activity (page views, clicks, purchases,
 * logins) with ids, timestamps, user agents, URLs and nested properties, drawn from a seeded PRNG so
 * that every run measures the same bytes.
 */

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ACTIONS = ['page_view', 'click', 'add_to_cart', 'purchase', 'login', 'logout', 'search'] as const;
const PAGES = [
  '/',
  '/products',
  '/products/shoes',
  '/products/shirts',
  '/cart',
  '/checkout',
  '/account',
  '/search',
];
const AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
  'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
];
const COUNTRIES = ['US', 'DE', 'FR', 'GB', 'IN', 'BR', 'JP', 'CA'];

export function* jsonEvents(
  seed = 1,
  startMs = 1_700_000_000_000,
): Generator<{ key: string; value: string }> {
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)];
  for (let i = 0; ; i++) {
    const user = `user-${Math.floor(rnd() * 5000)}`;
    const action = pick(ACTIONS);
    const event: Record<string, unknown> = {
      event_id: `${(startMs + i).toString(16)}-${Math.floor(rnd() * 0xffffffff)
        .toString(16)
        .padStart(8, '0')}`,
      timestamp: new Date(startMs + i * 37).toISOString(),
      user_id: user,
      session_id: `sess-${Math.floor(rnd() * 100000).toString(36)}`,
      action,
      page: pick(PAGES),
      user_agent: pick(AGENTS),
      ip: `${10 + Math.floor(rnd() * 200)}.${Math.floor(rnd() * 255)}.${Math.floor(rnd() * 255)}.${Math.floor(rnd() * 255)}`,
      geo: { country: pick(COUNTRIES), city_id: Math.floor(rnd() * 1000) },
    };
    if (action === 'purchase' || action === 'add_to_cart') {
      event.cart = {
        items: Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => ({
          sku: `SKU-${Math.floor(rnd() * 10000)}`,
          quantity: 1 + Math.floor(rnd() * 3),
          price: Math.round(rnd() * 20000) / 100,
        })),
        currency: 'USD',
      };
    }
    if (action === 'search')
      event.query = pick(['running shoes', 'red shirt', 'gift card', 'winter jacket', 'socks']);
    yield { key: user, value: JSON.stringify(event) };
  }
}
