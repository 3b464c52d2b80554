// The trading page: picks a market, and wires the REST API and the hub into the panels.

import { api, session } from "./api.js";
import { Account } from "./account.js";
import { Book } from "./book.js";
import { Candles, INTERVALS } from "./chart.js";
import { cell, fixed, places, time } from "./format.js";
import { Hub } from "./hub.js";
import { Notifications } from "./notifications.js";
import { Statement } from "./statement.js";
import { Trading } from "./trading.js";

const $ = (id) => document.getElementById(id);
const state = { markets: new Map(), market: null, interval: "1m" };

const book = new Book($("book"), $("depth"));
const candles = new Candles($("chart"));
const trading = new Trading($("order-form"), { open: $("open"), history: $("history"), fills: $("fills") },
                            $("balances"), () => refreshMine());
const notifications = new Notifications($("bell"), $("notifications"));
const statement = new Statement($("statement-form"), $("statement"));
const account = new Account($("session"), () => {
  trading.clear();
  hub.authenticate(session.token);
  privateStreams();
  refreshMine(true);
  notifications.load().catch(() => {});
});
let hub;

function streams(market) {
  return [`trades@${market.symbol}`, `depth@${market.symbol}`, `ticker@${market.symbol}`,
          `kline_${state.interval}@${market.symbol}`];
}

function privateStreams() {
  if (session.token) hub.subscribe(["orders", "balances", "notifications"]);
}

function onMessage(stream, data) {
  if (stream === "notifications") { notifications.onNotification(data); return; }
  const market = state.market;
  if (!market) return;
  if (stream === `depth@${market.symbol}`) book.onDiff(data);
  else if (stream === `trades@${market.symbol}`) addTrade(data);
  else if (stream === `ticker@${market.symbol}`) showTicker(data);
  else if (stream.startsWith("kline_") && stream.endsWith(`@${market.symbol}`)) candles.onKline(data.k);
  else if (stream === "balances") trading.onBalances(data);
  else if (stream === "orders" && data.s === market.symbol) { trading.onOrderUpdate(data); refreshMine(); }
}

function onState(up) {
  const status = $("status");
  status.textContent = up ? "live" : "reconnecting…";
  status.classList.toggle("down", !up);
  if (up && state.market) {
    book.load(state.market); // diffs were missed while away: the book starts again from a snapshot
    loadTrades(state.market);
    trading.streamed.clear(); // balance updates were missed too: the next REST read is the truth
    refreshMine(true);
  }
}

function showTicker(t) {
  const m = state.market, ticker = $("ticker");
  const field = (name, text) => { ticker.querySelector(`[data-field="${name}"]`).textContent = text; };
  field("last", fixed(t.c, places(m.tick)));
  field("change", `${t.P}%`);
  field("high", fixed(t.h, places(m.tick)));
  field("low", fixed(t.l, places(m.tick)));
  field("volume", fixed(t.v, places(m.step)));
}

function addTrade(t) {
  const body = $("trades").tBodies[0], m = state.market;
  const row = body.insertRow(0);
  cell(row, fixed(t.p, places(m.tick)), t.m ? "ask" : "bid");
  cell(row, fixed(t.q, places(m.step)));
  cell(row, time(t.T));
  while (body.rows.length > 40) body.deleteRow(-1);
}

async function loadTrades(market) {
  const page = await api("GET", `/trades?market=${encodeURIComponent(market.symbol)}&limit=40`);
  if (state.market !== market) return;
  $("trades").tBodies[0].replaceChildren();
  for (const t of page.items.reverse()) addTrade({ p: t.price, q: t.quantity, T: t.time, m: t.taker_side === "sell" });
}

async function loadTicker(market) {
  try {
    const t = await api("GET", `/ticker?market=${encodeURIComponent(market.symbol)}`);
    showTicker({ c: t.last, P: t.change_percent, h: t.high, l: t.low, v: t.volume });
  } catch {
    $("ticker").querySelectorAll("dd").forEach((dd) => { dd.textContent = "–"; });
  }
}

let refreshing = null, again = null;
function refreshMine(withBalances = false) {
  // One read for a burst of updates, and one more a moment later, when the read side has them.
  if (!session.token) { trading.clear(); return; }
  clearTimeout(refreshing);
  clearTimeout(again);
  refreshing = setTimeout(() => trading.refresh(withBalances).catch(() => {}), 50);
  again = setTimeout(() => trading.refresh(false).catch(() => {}), 1500);
}

async function pick(symbol) {
  const previous = state.market;
  if (previous) hub.unsubscribe(streams(previous));
  const market = state.markets.get(symbol);
  state.market = market;
  $("halted").hidden = market.status === "open";
  trading.setMarket(market);
  hub.subscribe(streams(market));
  await Promise.all([book.load(market), candles.load(market, state.interval), loadTrades(market), loadTicker(market)]);
  refreshMine(true);
}

function intervals() {
  const group = document.querySelector(".intervals");
  for (const interval of INTERVALS) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = interval;
    button.setAttribute("aria-pressed", String(interval === state.interval));
    button.addEventListener("click", () => {
      hub.unsubscribe([`kline_${state.interval}@${state.market.symbol}`]);
      state.interval = interval;
      group.querySelectorAll("button").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
      hub.subscribe([`kline_${interval}@${state.market.symbol}`]);
      candles.load(state.market, interval);
    });
    group.append(button);
  }
}

function tabs() {
  document.querySelectorAll("[role=tab]").forEach((tab) => tab.addEventListener("click", () => {
    document.querySelectorAll("[role=tab]").forEach((t) => t.setAttribute("aria-selected", String(t === tab)));
    document.querySelectorAll("[data-tabpanel]").forEach((panel) => { panel.hidden = panel.dataset.tabpanel !== tab.dataset.tab; });
    if (tab.dataset.tab === "statement") statement.show().catch((error) => statement.error(error));
  }));
  $("cancel-all").addEventListener("click", async () => {
    if (state.market && session.token) await api("DELETE", `/orders?market=${encodeURIComponent(state.market.symbol)}`);
    refreshMine();
  });
}

async function start() {
  const config = await (await fetch("/config.json")).json();
  hub = new Hub(config.ws_url, onMessage, onState);
  hub.authenticate(session.token);
  privateStreams();
  notifications.load().catch(() => {});
  intervals();
  tabs();
  const [markets, assets] = await Promise.all([api("GET", "/markets"), api("GET", "/assets")]);
  const decimals = new Map(assets.items.map((a) => [a.symbol, a.decimals]));
  trading.decimals = decimals;
  const select = $("market");
  for (const m of markets.items) {
    m.quote_decimals = decimals.get(m.quote) ?? 0;
    state.markets.set(m.symbol, m);
    select.add(new Option(`${m.base}/${m.quote}${m.status === "open" ? "" : " (halted)"}`, m.symbol));
  }
  select.addEventListener("change", () => pick(select.value));
  const wanted = new URLSearchParams(location.search).get("market");
  const first = state.markets.has(wanted) ? wanted : markets.items[0]?.symbol;
  if (first) { select.value = first; await pick(first); }
}

start();
