// The order form, and what the signed-in user has: open orders, history, fills, balances.

import { api, ApiError } from "./api.js";
import { cell, fixed, fromUnits, places, time, toUnits } from "./format.js";

export function showErrors(form, error) {
  // An API error goes next to the field it names, or under the form.
  form.querySelectorAll("[data-error]").forEach((p) => { p.textContent = ""; });
  if (!error) return;
  const field = error instanceof ApiError && error.field ? error.field : "form";
  const slot = form.querySelector(`[data-error="${field}"]`) || form.querySelector('[data-error="form"]');
  slot.textContent = error.message;
  const input = form.elements[field];
  if (input && input.focus) input.focus();
}

export class Trading {
  constructor(form, tables, balancesTable, onChange) {
    this.form = form;
    this.tables = tables;
    this.balancesTable = balancesTable;
    this.onChange = onChange;
    this.balances = new Map();
    this.streamed = new Set(); // assets whose balance came from the stream, newer than any REST read
    this.open = new Map(); // order id -> open order
    this.ended = new Set(); // order ids the stream said ended
    this.decimals = new Map(); // asset -> its places, set once the assets are read
    this.market = null;
    form.addEventListener("input", () => this.describe());
    form.addEventListener("submit", (event) => { event.preventDefault(); this.place(); });
    form.elements.type.addEventListener("change", () => this.shape());
    form.querySelectorAll('input[name="side"]').forEach((r) => r.addEventListener("change", () => this.shape()));
  }

  setMarket(market) {
    this.market = market;
    this.form.querySelector("button[type=submit]").disabled = market.status !== "open";
    this.shape();
  }

  shape() {
    // Which fields the order type takes: a market buy names what it may spend.
    const f = this.form.elements, limit = f.type.value === "limit", side = this.side();
    const show = (name, on) => { this.form.querySelector(`[data-for="${name}"]`).hidden = !on; };
    show("price", limit);
    show("time_in_force", limit);
    show("post_only", limit);
    show("quantity", limit || side === "sell");
    show("quote_quantity", !limit && side === "buy");
    this.describe();
  }

  side() { return this.form.querySelector('input[name="side"]:checked').value; }

  describe() {
    const m = this.market;
    if (!m) return;
    const f = this.form.elements, side = this.side();
    const spend = side === "buy" ? m.quote : m.base;
    document.getElementById("grid").textContent =
      `tick ${m.tick} · step ${m.step} · minimum ${m.min_notional} ${m.quote} · fees ${m.maker_fee} maker, ${m.taker_fee} taker`;
    const have = this.balances.get(spend);
    const shownPlaces = this.decimals.get(spend) ?? 0;
    document.getElementById("available").textContent = `Available: ${fixed(have ? have.available : "0", shownPlaces)} ${spend}`;
    const cost = document.getElementById("cost");
    cost.textContent = "";
    if (f.type.value !== "limit") return;
    const ps = places(m.tick), qs = places(m.step), fs = places(m.taker_fee);
    const price = toUnits(f.price.value.trim(), ps), quantity = toUnits(f.quantity.value.trim(), qs);
    const rate = toUnits(m.taker_fee, fs);
    if (price === null || quantity === null || rate === null) return;
    const notional = price * quantity; // at scale ps + qs
    const scale = ps + qs + fs;
    const fee = notional * rate; // the most a taker pays; a maker pays less
    const total = side === "buy" ? notional * 10n ** BigInt(fs) + fee : notional * 10n ** BigInt(fs) - fee;
    // In the quote asset's places: a buy's cost rounded up, a sell's proceeds down, as fees are.
    const decimals = m.quote_decimals, cut = 10n ** BigInt(Math.max(scale - decimals, 0));
    const shown = side === "buy" ? (total + cut - 1n) / cut : total / cut;
    const text = fromUnits(scale >= decimals ? shown : total * 10n ** BigInt(decimals - scale), decimals);
    cost.textContent = side === "buy"
      ? `Cost: at most ${text} ${m.quote} with fees`
      : `Proceeds: at least ${text} ${m.quote} after fees`;
  }

  async place() {
    const f = this.form.elements, m = this.market, limit = f.type.value === "limit";
    const body = { market: m.symbol, side: this.side(), type: f.type.value };
    if (limit) {
      body.price = f.price.value.trim();
      body.time_in_force = f.time_in_force.value;
      if (f.post_only.checked) body.post_only = true;
    }
    if (limit || body.side === "sell") body.quantity = f.quantity.value.trim();
    else body.quote_quantity = f.quote_quantity.value.trim();
    showErrors(this.form, null);
    try {
      const order = await api("POST", "/orders", body);
      if (order.status === "REJECTED") showErrors(this.form, new Error(`Rejected: ${order.reject_reason}`));
      this.onChange();
    } catch (error) {
      showErrors(this.form, error);
    }
  }

  async refresh(withBalances) {
    // The REST reads follow the order flow within moments, the private stream is ahead of them:
    // what the stream has said wins (ended orders stay gone, streamed balances stay).
    if (!this.market) return;
    const symbol = encodeURIComponent(this.market.symbol);
    const [open, history, fills, balances] = await Promise.all([
      api("GET", `/orders?market=${symbol}`), api("GET", `/orders/history?market=${symbol}&limit=50`),
      api("GET", `/my/trades?market=${symbol}&limit=50`), withBalances ? api("GET", "/balances") : null]);
    this.open = new Map(open.items.filter((o) => !this.ended.has(o.order_id)).map((o) => [o.order_id, o]));
    this.renderOpen();
    this.renderHistory(history.items);
    this.renderFills(fills.items);
    if (balances) {
      for (const b of balances.items) if (!this.streamed.has(b.asset)) this.balances.set(b.asset, b);
      this.renderBalances();
    }
  }

  onOrderUpdate(update) {
    // An order's change from the private stream: applied to the open orders at once.
    const order = this.open.get(update.i);
    if (["FILLED", "CANCELED", "EXPIRED", "REJECTED"].includes(update.X)) {
      this.ended.add(update.i);
      this.open.delete(update.i);
    } else if (order) {
      order.status = update.X;
      order.filled_quantity = update.z;
    }
    this.renderOpen();
    return order !== undefined;
  }

  renderOpen() {
    const body = this.tables.open.tBodies[0], m = this.market;
    body.replaceChildren();
    for (const o of [...this.open.values()].sort((a, b) => (BigInt(b.order_id) > BigInt(a.order_id) ? 1 : -1))) {
      const row = body.insertRow();
      row.dataset.orderId = o.order_id;
      cell(row, o.side, o.side);
      cell(row, fixed(o.price, places(m.tick)));
      cell(row, fixed(o.quantity, places(m.step)));
      cell(row, fixed(o.filled_quantity, places(m.step)));
      cell(row, o.status);
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Cancel";
      button.addEventListener("click", async () => {
        try { await api("DELETE", `/orders/${o.order_id}`); } catch (error) { button.title = error.message; }
        this.onChange();
      });
      row.insertCell().append(button);
    }
  }

  renderHistory(orders) {
    const body = this.tables.history.tBodies[0], m = this.market;
    body.replaceChildren();
    for (const o of orders) {
      const row = body.insertRow();
      row.dataset.orderId = o.order_id;
      cell(row, o.side, o.side);
      cell(row, o.type);
      cell(row, fixed(o.price, places(m.tick)));
      cell(row, fixed(o.quantity, places(m.step)));
      cell(row, fixed(o.filled_quantity, places(m.step)));
      cell(row, o.status);
    }
  }

  renderFills(fills) {
    const body = this.tables.fills.tBodies[0], m = this.market;
    body.replaceChildren();
    for (const t of fills) {
      const row = body.insertRow();
      cell(row, t.side, t.side);
      cell(row, fixed(t.price, places(m.tick)));
      cell(row, fixed(t.quantity, places(m.step)));
      cell(row, `${t.fee} ${t.fee_asset}`);
      cell(row, t.role);
      cell(row, time(t.time));
    }
  }

  onBalances(update) {
    for (const b of update.B) {
      this.streamed.add(b.a);
      this.balances.set(b.a, { asset: b.a, available: b.f, held: b.l });
    }
    this.renderBalances();
  }

  renderBalances() {
    const body = this.balancesTable.tBodies[0];
    body.replaceChildren();
    for (const b of [...this.balances.values()].sort((x, y) => x.asset.localeCompare(y.asset))) {
      const row = body.insertRow();
      row.dataset.asset = b.asset;
      const scale = this.decimals.get(b.asset) ?? places(b.available);
      cell(row, b.asset);
      cell(row, fixed(b.available, scale));
      cell(row, fixed(b.held, scale));
    }
    this.describe();
  }

  clear() {
    this.balances = new Map();
    this.streamed = new Set();
    this.open = new Map();
    for (const table of [...Object.values(this.tables), this.balancesTable]) table.tBodies[0].replaceChildren();
    this.describe();
  }
}
