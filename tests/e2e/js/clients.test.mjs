// JavaScript Binance clients against the exchange, only their URLs changed: ccxt and the npm
// `binance` SDK place, get and cancel an order by its id. JSON.parse turns every number into a
// double, so an id above 2^53 would come back rounded and the get and the cancel would miss it.
// Run by tests/e2e/test_js_clients.py, which starts the exchange and passes these:
import assert from "node:assert/strict";
import test from "node:test";

import { MainClient } from "binance";
import ccxt from "ccxt";

const { EXCHANGE_API, EXCHANGE_WS, API_KEY, API_SECRET, PAIR, SYMBOL } = process.env;

function local(urls) {
  if (typeof urls === "string") {
    return urls.replace(/^wss:\/\/[^/]+/, EXCHANGE_WS).replace(/^https:\/\/[^/]+/, EXCHANGE_API);
  }
  return Object.fromEntries(Object.entries(urls).map(([name, url]) => [name, local(url)]));
}

test("ccxt places, fetches and cancels an order by its id", async () => {
  const exchange = new ccxt.binance({ apiKey: API_KEY, secret: API_SECRET });
  exchange.urls.api = local(exchange.urls.api);
  await exchange.loadMarkets();
  const placed = await exchange.createOrder(PAIR, "limit", "buy", 1, 1);
  assert.ok(Number.isSafeInteger(Number(placed.id)), `order id ${placed.id} is exact in JavaScript`);
  const fetched = await exchange.fetchOrder(placed.id, PAIR);
  assert.equal(fetched.id, placed.id);
  assert.equal(fetched.status, "open");
  const open = await exchange.fetchOpenOrders(PAIR);
  assert.ok(open.some((order) => order.id === placed.id));
  const cancelled = await exchange.cancelOrder(placed.id, PAIR);
  assert.equal(cancelled.status, "canceled");
});

test("the npm binance SDK places, gets and cancels an order by its id", async () => {
  const client = new MainClient({ api_key: API_KEY, api_secret: API_SECRET, baseUrl: EXCHANGE_API });
  const placed = await client.submitNewOrder({
    symbol: SYMBOL, side: "BUY", type: "LIMIT", timeInForce: "GTC", quantity: 1, price: 1,
  });
  assert.ok(Number.isSafeInteger(placed.orderId), `order id ${placed.orderId} is exact in JavaScript`);
  const got = await client.getOrder({ symbol: SYMBOL, orderId: placed.orderId });
  assert.equal(got.orderId, placed.orderId);
  assert.equal(got.status, "NEW");
  const cancelled = await client.cancelOrder({ symbol: SYMBOL, orderId: placed.orderId });
  assert.equal(cancelled.status, "CANCELED");
  assert.equal(cancelled.orderId, placed.orderId);
});
